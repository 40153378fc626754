//! The device as a first-class setting (the CPU side of the GPU issue): `--device` on every
//! command, refused clearly where this build or this device cannot serve it; the run's device
//! in `run.json`; sweep workers placed on consecutive GPUs.

use super::runs::shared_run;
use crate::common::{alambic, scratch_dir};
use alambic::store::run_dir::read_info;
use alambic::sweep::Placement;
use alambic::train::device::DeviceSpec;

#[test]
fn every_command_takes_device_and_refuses_what_this_build_lacks() {
    let (run, _) = shared_run();
    let run = run.to_str().expect("p");
    let dir = scratch_dir("device-flags");
    let sol = dir.join("a.sol");
    std::fs::write(&sol, "contract A { function f() public {} }\n").expect("write");
    let out_dir = dir.join("runs");
    let out = out_dir.to_str().expect("p");
    let sol = sol.to_str().expect("p");
    let cases: [&[&str]; 5] = [
        &[
            "train",
            "--config",
            "tests/configs/tiny.toml",
            "--out",
            out,
            "--device",
            "cuda:1",
        ],
        &[
            "distill",
            "--config",
            "tests/configs/tiny.toml",
            "--out",
            out,
            "--device",
            "cuda",
        ],
        &[
            "sweep",
            "--config",
            "tests/configs/tiny.toml",
            "--out",
            out,
            "--device",
            "cuda",
        ],
        &["predict", "--model", run, sol, "--device", "cuda"],
        &[
            "eval",
            "--model",
            run,
            "--data",
            "data/demo/contracts.jsonl",
            "--device",
            "cuda",
        ],
    ];
    for args in cases {
        let o = alambic(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            err.contains("this build has no cuda support"),
            "{args:?}: {err}"
        );
    }
    assert!(!out_dir.exists() || std::fs::read_dir(&out_dir).expect("d").count() == 0);
    let o = alambic(&["predict", "--model", run, sol, "--device", "tpu"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--device: device `tpu`: expected cpu, cuda[:N] or metal[:N]"),
        "{err}"
    );
    // The CPU, named, works as before; the run records where it computed.
    let o = alambic(&["predict", "--model", run, sol, "--device", "cpu", "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        read_info(std::path::Path::new(run))
            .expect("info")
            .device
            .as_deref(),
        Some("cpu")
    );
}

#[test]
fn bf16_is_refused_on_the_cpu_with_the_reason() {
    let dir = scratch_dir("bf16-cpu");
    let out = dir.join("runs");
    let o = alambic(&[
        "train",
        "--config",
        "tests/configs/tiny.toml",
        "--out",
        out.to_str().expect("p"),
        "--set",
        "train.precision=\"bf16\"",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("train.precision = \"bf16\" is refused on the CPU"),
        "{err}"
    );
    assert!(!out.exists() || std::fs::read_dir(&out).expect("d").count() == 0);
}

#[test]
fn parallel_sweep_workers_take_consecutive_gpus() {
    let at = |device: Option<DeviceSpec>, worker, configured| {
        Placement { device, worker }.device(configured)
    };
    assert_eq!(at(None, 0, DeviceSpec::Cuda(0)), DeviceSpec::Cuda(0));
    assert_eq!(at(None, 3, DeviceSpec::Cuda(0)), DeviceSpec::Cuda(3));
    assert_eq!(at(None, 1, DeviceSpec::Cuda(2)), DeviceSpec::Cuda(3));
    assert_eq!(
        at(Some(DeviceSpec::Cuda(4)), 1, DeviceSpec::Cpu),
        DeviceSpec::Cuda(5)
    );
    assert_eq!(at(None, 5, DeviceSpec::Cpu), DeviceSpec::Cpu);
    assert_eq!("cuda:3".parse::<DeviceSpec>(), Ok(DeviceSpec::Cuda(3)));
    assert_eq!(DeviceSpec::Cuda(3).to_string(), "cuda:3");
    assert_eq!(DeviceSpec::Cuda(0).to_string(), "cuda");
}
