//! Embeds the first column (header `text`) of a CSV into a file of little-endian f32
//! vectors, n × 384, in the CSV's order, and prints the speed. Why: offline
//! experiments (semantic-clustering tuning, docs/embeddings.md's throughput) read the
//! vectors without linking the model.
//!
//! `cargo run --release -p igny8-embed --example embed_csv -- IN.csv OUT.f32`

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use igny8_ai::Embedder;
use igny8_embed::{default_model_dir, MiniLmEmbedder, DIMENSIONS};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("embed_csv: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        return Err("usage: embed_csv IN.csv OUT.f32".to_owned());
    };
    let mut reader = csv::Reader::from_path(input).map_err(|err| format!("{input}: {err}"))?;
    let header = reader.headers().map_err(|err| format!("{input}: {err}"))?;
    if header.get(0) != Some("text") {
        return Err(format!("{input}: the first column's header must be `text`"));
    }
    let mut texts = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| format!("{input}: {err}"))?;
        texts.push(record.get(0).unwrap_or_default().to_owned());
    }

    let embedder = MiniLmEmbedder::from_env()
        .ok_or_else(|| format!("no model in {}: run scripts/models.sh", default_model_dir().display()))?;
    let started = Instant::now();
    embedder.embed(&["warm up".to_owned()]).map_err(|err| err.to_string())?;
    let loaded = started.elapsed();

    let started = Instant::now();
    let vectors = embedder.embed(&texts).map_err(|err| err.to_string())?;
    let took = started.elapsed();

    let mut bytes = Vec::with_capacity(vectors.len() * DIMENSIONS * 4);
    for vector in &vectors {
        for value in vector {
            bytes.extend_from_slice(&value.to_le_bytes());
        }
    }
    let mut file = std::fs::File::create(output).map_err(|err| format!("{output}: {err}"))?;
    file.write_all(&bytes).map_err(|err| format!("{output}: {err}"))?;
    println!(
        "{} texts -> {output} ({} × {DIMENSIONS} f32): {:.1} keywords/s ({:.2} s; model load {:.2} s)",
        texts.len(),
        vectors.len(),
        texts.len() as f64 / took.as_secs_f64().max(1e-9),
        took.as_secs_f64(),
        loaded.as_secs_f64()
    );
    Ok(())
}
