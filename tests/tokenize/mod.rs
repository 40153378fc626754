mod golden;
mod window;
