mod layer_maps;
mod losses;
mod progressive;
mod pruned;
mod run;
mod stages;
mod teacher_tokens;
mod transfer;
