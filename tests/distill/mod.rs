mod losses;
