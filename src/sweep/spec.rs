//! The `[sweep]` section: a grid (`[sweep.grid]`, full dotted keys → lists) or random trials
//! (`[sweep.random]`: `trials`, `seed`, `ranges` key → [low, high], `log` keys drawn
//! log-uniformly), the objective and its direction, when a claim counts as stale, and what a
//! cell runs (`command`: a distillation, or pretraining on `[pretrain].corpus`).
//! Cells are expanded row-major: the first axis varies slowest (alpha rows, temperature columns).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use toml::{Table, Value};

/// The grid a sweep runs when the config names none: alpha × temperature.
pub const DEFAULT_GRID: [(&str, &[f64]); 2] = [
    ("distill.alpha", &[0.1, 0.3, 0.5, 0.7, 0.9]),
    ("distill.temperature", &[1.0, 2.0, 4.0, 8.0]),
];

#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub key: String,
    pub values: Vec<Value>,
}

/// One cell: its index and the config overrides that make it.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub index: usize,
    pub values: Vec<(String, Value)>,
}

impl Cell {
    /// `--set` arguments for the config loader.
    pub fn sets(&self) -> Vec<String> {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// `alpha=0.5 temperature=4`: the last part of each key.
    pub fn label(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{}={}", k.rsplit('.').next().unwrap_or(k), plain(v)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A value as a person reads it (strings without quotes).
pub fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What each cell of a sweep runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SweepCommand {
    /// `alambic distill` (general distillation too, with `distill.recipe = "general"`).
    #[default]
    Distill,
    /// `alambic pretrain`: masked-language modelling on `[pretrain].corpus`.
    Pretrain,
}

/// A sweep of runs on the unlabelled corpus is judged by their held-out loss.
pub const CORPUS_OBJECTIVE: &str = "best.loss";

#[derive(Clone, Debug, PartialEq)]
pub struct SweepSpec {
    pub command: SweepCommand,
    pub axes: Vec<Axis>,
    /// Random trials instead of the full grid (`axes` then hold each trial's draws).
    pub random: Option<usize>,
    pub cells: Vec<Cell>,
    /// A path into a run's summary, e.g. `valid.macro_f1`.
    pub objective: String,
    pub maximize: bool,
    /// Seconds without a heartbeat after which a claim whose process is gone is taken over.
    pub stale_after: f64,
}

fn err(key: &str, msg: impl std::fmt::Display) -> String {
    format!("sweep.{key}: {msg}")
}

impl SweepSpec {
    /// From the config's `[sweep]` table and `--grid KEY=V1,V2` arguments (which replace the
    /// table's axis of the same key, or add one), for a config whose recipe is not general
    /// distillation.
    pub fn from_table(sweep: &Table, grid_args: &[String]) -> Result<Self, String> {
        Self::for_recipe(sweep, grid_args, false)
    }

    /// As [`Self::from_table`]; `general` says the config's recipe is general distillation,
    /// whose cells run on the corpus as pretraining's do. The one place that decides what a
    /// sweep on the corpus defaults to: judged by its held-out loss, and no default grid (the
    /// alpha × temperature one is for the labelled set).
    pub fn for_recipe(sweep: &Table, grid_args: &[String], general: bool) -> Result<Self, String> {
        const KNOWN: [&str; 7] = [
            "command",
            "grid",
            "random",
            "objective",
            "direction",
            "stale_after",
            "parallel",
        ];
        if let Some(k) = sweep.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(err(
                k,
                format!("unknown key (expected one of {})", KNOWN.join(", ")),
            ));
        }
        let command = match sweep.get("command").map(Value::as_str) {
            None | Some(Some("distill")) => SweepCommand::Distill,
            Some(Some("pretrain")) => SweepCommand::Pretrain,
            _ => return Err(err("command", "must be \"distill\" or \"pretrain\"")),
        };
        let corpus = general || command == SweepCommand::Pretrain;
        let objective = match sweep.get("objective") {
            None if corpus => CORPUS_OBJECTIVE.to_string(),
            None => "valid.macro_f1".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(err("objective", "must be a string like valid.macro_f1")),
        };
        let maximize = match sweep.get("direction").map(Value::as_str) {
            None => !corpus,
            Some(Some("max")) => true,
            Some(Some("min")) => false,
            _ => return Err(err("direction", "must be \"max\" or \"min\"")),
        };
        let stale_after = match sweep.get("stale_after") {
            None => 600.0,
            Some(Value::Integer(i)) if *i > 0 => *i as f64,
            Some(Value::Float(f)) if *f > 0.0 => *f,
            Some(_) => return Err(err("stale_after", "must be a positive number of seconds")),
        };
        let mut axes = match sweep.get("grid") {
            None => Vec::new(),
            Some(Value::Table(t)) => t
                .iter()
                .map(|(k, v)| match v {
                    Value::Array(a) if !a.is_empty() => Ok(Axis {
                        key: k.clone(),
                        values: a.clone(),
                    }),
                    _ => Err(err(&format!("grid.\"{k}\""), "must be a non-empty list")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(err("grid", "must be a table of key = [values]")),
        };
        for arg in grid_args {
            let axis = parse_grid_arg(arg)?;
            match axes.iter_mut().find(|a| a.key == axis.key) {
                Some(a) => *a = axis,
                None => axes.push(axis),
            }
        }
        if let Some(random) = sweep.get("random") {
            if !axes.is_empty() {
                return Err(err("random", "a sweep has either a grid or random trials"));
            }
            let (trials, axes, cells) = random_cells(random)?;
            return Ok(Self {
                command,
                axes,
                random: Some(trials),
                cells,
                objective,
                maximize,
                stale_after,
            });
        }
        if axes.is_empty() && corpus {
            return Err(err(
                "grid",
                "a sweep on the corpus (pretraining or general distillation) needs a grid \
                 (--grid KEY=V1,V2 or [sweep.grid]); the default alpha × temperature grid is for \
                 the labelled set",
            ));
        }
        if axes.is_empty() {
            axes = DEFAULT_GRID
                .iter()
                .map(|(k, vs)| Axis {
                    key: (*k).to_string(),
                    values: vs.iter().map(|&v| Value::Float(v)).collect(),
                })
                .collect();
        }
        let cells = expand(&axes);
        Ok(Self {
            command,
            axes,
            random: None,
            cells,
            objective,
            maximize,
            stale_after,
        })
    }

    /// The `[sweep]` table that reproduces these cells (written to `sweep.toml`).
    pub fn to_table(&self, random: Option<&Value>) -> Table {
        let mut t = Table::new();
        match random {
            Some(r) => {
                t.insert("random".into(), r.clone());
            }
            None => {
                let grid: Table = self
                    .axes
                    .iter()
                    .map(|a| (a.key.clone(), Value::Array(a.values.clone())))
                    .collect();
                t.insert("grid".into(), Value::Table(grid));
            }
        }
        t.insert("objective".into(), Value::String(self.objective.clone()));
        let direction = if self.maximize { "max" } else { "min" };
        t.insert("direction".into(), Value::String(direction.into()));
        t.insert("stale_after".into(), Value::Float(self.stale_after));
        // Written only when it is not the default, so a distillation sweep's folder (named by
        // the hash of this text) stays the one earlier versions made.
        if self.command == SweepCommand::Pretrain {
            t.insert("command".into(), Value::String("pretrain".into()));
        }
        t
    }
}

/// `distill.alpha=0.1,0.3` → an axis; each value is TOML (`0.1`, `"max"`), a bare word a string.
pub fn parse_grid_arg(arg: &str) -> Result<Axis, String> {
    let (key, list) = arg
        .split_once('=')
        .ok_or_else(|| format!("--grid {arg}: expected KEY=V1,V2,…"))?;
    let values: Vec<Value> = list
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|raw| {
            toml::from_str::<Table>(&format!("v = {raw}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| Value::String(raw.to_string()))
        })
        .collect();
    if values.is_empty() {
        return Err(format!("--grid {arg}: no values"));
    }
    Ok(Axis {
        key: key.trim().to_string(),
        values,
    })
}

/// Every combination, the first axis slowest.
pub fn expand(axes: &[Axis]) -> Vec<Cell> {
    let mut cells = vec![Vec::new()];
    for axis in axes {
        cells = cells
            .into_iter()
            .flat_map(|prefix: Vec<(String, Value)>| {
                axis.values.iter().map(move |v| {
                    let mut c = prefix.clone();
                    c.push((axis.key.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    cells
        .into_iter()
        .enumerate()
        .map(|(index, values)| Cell { index, values })
        .collect()
}

type Random = (usize, Vec<Axis>, Vec<Cell>);

/// `[sweep.random]`: `trials`, `seed`, `ranges = { "distill.alpha" = [0.0, 1.0] }`, and
/// `log = ["train.lr"]` for keys drawn log-uniformly. Seeded, so a resumed sweep draws the
/// same trials.
fn random_cells(spec: &Value) -> Result<Random, String> {
    let Value::Table(t) = spec else {
        return Err(err("random", "must be a table"));
    };
    let trials = match t.get("trials") {
        Some(Value::Integer(n)) if *n > 0 => *n as usize,
        _ => return Err(err("random.trials", "must be a positive integer")),
    };
    let seed = match t.get("seed") {
        None => 13,
        Some(Value::Integer(s)) => *s as u64,
        Some(_) => return Err(err("random.seed", "must be an integer")),
    };
    let log: Vec<&str> = match t.get("log") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(_) => return Err(err("random.log", "must be a list of keys")),
    };
    let Some(Value::Table(ranges)) = t.get("ranges") else {
        return Err(err("random.ranges", "must be a table of key = [low, high]"));
    };
    let mut bounds = Vec::new();
    for (key, v) in ranges {
        let pair = v.as_array().and_then(|a| match a.as_slice() {
            [lo, hi] => Some((num(lo)?, num(hi)?)),
            _ => None,
        });
        match pair {
            Some((lo, hi)) if lo <= hi => bounds.push((key.clone(), lo, hi)),
            _ => {
                return Err(err(
                    &format!("random.ranges.\"{key}\""),
                    "must be [low, high] numbers with low ≤ high",
                ));
            }
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut axes: Vec<Axis> = bounds
        .iter()
        .map(|(k, _, _)| Axis {
            key: k.clone(),
            values: Vec::new(),
        })
        .collect();
    let mut cells = Vec::with_capacity(trials);
    for index in 0..trials {
        let mut values = Vec::new();
        for ((key, lo, hi), axis) in bounds.iter().zip(axes.iter_mut()) {
            let u: f64 = rng.random();
            let x = if log.contains(&key.as_str()) && *lo > 0.0 {
                (lo.ln() + u * (hi.ln() - lo.ln())).exp()
            } else {
                lo + u * (hi - lo)
            };
            // Four significant digits: readable labels, and a draw survives a TOML round trip.
            let x = format!("{x:.4e}").parse::<f64>().unwrap_or(x);
            axis.values.push(Value::Float(x));
            values.push((key.clone(), Value::Float(x)));
        }
        cells.push(Cell { index, values });
    }
    Ok((trials, axes, cells))
}

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}
