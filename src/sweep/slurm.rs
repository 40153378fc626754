//! `alambic sweep slurm DIR`: a Slurm job-array script in which task i runs cell i. Every task
//! first prepares the teacher under the sweep's lock (the first does the work, the others find
//! it done), so the array needs no separate teacher job.

use super::folder::{SweepDir, cell_name};

/// Single quotes for the shell: `'it'\''s'`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub fn script(sweep: &SweepDir, alambic: &str) -> String {
    let dir = sweep.path.display().to_string();
    let n = sweep.spec.cells.len();
    let mut s = String::from("#!/bin/bash\n");
    s += "#SBATCH --job-name=alambic-sweep\n";
    s += &format!("#SBATCH --array=0-{}\n", n.saturating_sub(1));
    s += &format!("#SBATCH --output={dir}/slurm-%A_%a.out\n");
    s += "# Add your site's options (partition, --gres=gpu:1, --time, --mem) above this line.\n";
    s += "#\n# Cells:\n";
    for c in &sweep.spec.cells {
        s += &format!(
            "#   {} (task {}): {}\n",
            cell_name(c.index),
            c.index,
            c.label()
        );
    }
    s += "set -euo pipefail\n";
    s += &format!(
        "exec {} sweep run-cell {} --index \"$SLURM_ARRAY_TASK_ID\"\n",
        quote(alambic),
        quote(&dir)
    );
    s
}
