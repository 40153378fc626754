mod layer_maps;
mod losses;
mod run;
