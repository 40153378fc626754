mod layer_maps;
mod losses;
