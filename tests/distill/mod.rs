mod layer_maps;
mod losses;
mod run;
mod stages;
mod teacher_tokens;
mod transfer;
