//! Where the person model spends its time: runs it on one thread and
//! prints the time per kind of operation and the slowest operations
//! (tract nodes), per run.
//!
//! `cargo run --release -p vigia-detect --example profile_ops [RUNS]` with
//! `VIGIA_PERSON_MODEL` set.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::time::Duration;

use vigia_detect::tract_ssd::{model_path_from_env, profile_nodes};

fn ms(d: Duration, runs: usize) -> f64 {
    d.as_secs_f64() * 1e3 / runs as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = model_path_from_env().ok_or("VIGIA_PERSON_MODEL is not set")?;
    let runs: usize = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 20,
    };
    let nodes = profile_nodes(&std::fs::read(&path)?, runs)?;
    let total: Duration = nodes.iter().map(|n| n.time).sum();
    println!(
        "{:.2} ms per run ({} runs, {} operations)",
        ms(total, runs),
        runs,
        nodes.len()
    );

    let mut by_op: HashMap<&str, (Duration, usize)> = HashMap::new();
    for n in &nodes {
        let e = by_op.entry(&n.op).or_default();
        e.0 += n.time;
        e.1 += 1;
    }
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by_key(|(_, (t, _))| Reverse(*t));
    println!("\nby kind:");
    for (op, (t, count)) in ops.iter().filter(|(_, (t, _))| !t.is_zero()) {
        println!(
            "{:>8.2} ms {:>5.1} %  x{count:<4} {op}",
            ms(*t, runs),
            100.0 * t.as_secs_f64() / total.as_secs_f64()
        );
    }

    let mut slowest: Vec<_> = nodes.iter().collect();
    slowest.sort_by_key(|n| Reverse(n.time));
    println!("\nslowest operations:");
    for n in slowest.iter().take(15) {
        println!(
            "{:>8.2} ms  {} [{}] {}",
            ms(n.time, runs),
            n.name,
            n.op,
            n.shape
        );
    }
    Ok(())
}
