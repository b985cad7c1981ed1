//! Masking speed on one core: the content detectors' scan rate, and the time to mask 1,000
//! rows of five text columns (DataRow in, DataRow out) with detection and one hash rule.
//!
//!   cargo bench -p proxy --bench masking
//!
//! The corpus is realistic-looking row text (names, sentences, dates, amounts, ids) with a
//! sensitive value in about one value in ten. BENCH_MB sets the corpus size (default 64).
//! Last, rows shaped like `scripts/bench-masking`'s table (a customer text, a note or an email,
//! a 32-digit hex hash, a shipping text, a status or a phone): the time per row that
//! detection adds, which that script's proxy figures are made of.

// A panic in a benchmark is a broken benchmark, not a crashed gateway.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use proxy::masking::rewrite::rewrite_row;
use proxy::masking::{
    ColumnSource, DetectorKind, Detectors, Field, Masking, MaskingConfig, Plan, ResultCounts,
    Viewer,
};

const WORDS: [&str; 16] = [
    "order",
    "shipped",
    "Berlin",
    "pending",
    "invoice",
    "customer",
    "refund",
    "Alice",
    "note",
    "2024-03-15",
    "12.50",
    "id-88231",
    "warehouse",
    "express",
    "Zürich",
    "ok",
];

const SENSITIVE: [&str; 8] = [
    "alice@example.com",
    "4111 1111 1111 1111",
    "123-45-6789",
    "DE89370400440532013000",
    "+44 20 7946 0958",
    "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "(415) 555-0132",
];

/// A value of 20–80 bytes; one in ten holds a sensitive value.
fn value(seed: &mut u64) -> String {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    let words = 3 + (next() % 8) as usize;
    let mut out = String::new();
    for _ in 0..words {
        out.push_str(WORDS[(next() % 16) as usize]);
        out.push(' ');
    }
    if next() % 10 == 0 {
        out.push_str(SENSITIVE[(next() % 8) as usize]);
    }
    out
}

fn main() {
    let mb: usize = std::env::var("BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut values = Vec::new();
    let mut total = 0;
    while total < mb * 1024 * 1024 {
        let v = value(&mut seed);
        total += v.len();
        values.push(v.into_bytes());
    }
    let detectors = Detectors::all();

    // Warm up, then scan every value as the gateway does (one value at a time).
    for v in values.iter().take(10_000) {
        black_box(detectors.mask(v));
    }
    // Best of three passes: the machine is shared, and a pass another process interrupts
    // measures that process.
    let mut elapsed = std::time::Duration::MAX;
    let mut hits = 0u64;
    for _ in 0..3 {
        let started = Instant::now();
        hits = 0;
        for v in &values {
            if let Some((_, counts)) = detectors.mask(black_box(v)) {
                hits += counts.total();
            }
        }
        elapsed = elapsed.min(started.elapsed());
    }
    let rate = total as f64 / elapsed.as_secs_f64() / 1e6;
    println!(
        "detectors, value by value (best of 3): {:.1} MB in {:.3} s = {rate:.0} MB/s ({} values, {hits} hits)",
        total as f64 / 1e6,
        elapsed.as_secs_f64(),
        values.len()
    );

    // Each detector alone, value by value.
    for kind in DetectorKind::ALL {
        let one = Detectors::new(&[kind]);
        let started = Instant::now();
        for v in &values {
            black_box(one.mask(black_box(v)));
        }
        let rate = total as f64 / started.elapsed().as_secs_f64() / 1e6;
        println!("  {:<12} alone: {rate:.0} MB/s", kind.name());
    }

    // One big text (terminal output, a COPY stream).
    let big: Vec<u8> = values
        .iter()
        .flat_map(|v| v.iter().copied().chain([b'\n']))
        .collect();
    let started = Instant::now();
    let masked = detectors.mask(black_box(&big));
    let elapsed = started.elapsed();
    println!(
        "detectors, one {:.1} MB text: {:.0} MB/s ({} hits)",
        big.len() as f64 / 1e6,
        big.len() as f64 / elapsed.as_secs_f64() / 1e6,
        masked.map_or(0, |(_, c)| c.total())
    );

    // 1,000 rows x 5 text columns: detection on four, a hash rule on one.
    let dir = tempfile::tempdir().expect("dir");
    let key = dir.path().join("key");
    std::fs::write(&key, "bench-key-0123456789abcdef").expect("key");
    let config: MaskingConfig = toml::from_str(&format!(
        "hash_key = {{ file = {:?} }}\n[[rules]]\ncolumn = \"email\"\nstrategy = \"hash\"\n",
        key.display().to_string()
    ))
    .expect("config");
    let masking = Masking::from_config(&config).expect("ok").expect("on");
    let email = ColumnSource {
        schema: "public".into(),
        table: "t".into(),
        column: "email".into(),
        type_name: "text".into(),
    };
    let mut fields = vec![Field {
        name: "email",
        type_oid: 25,
        source: Some(&email),
    }];
    for name in ["a", "b", "c", "d"] {
        fields.push(Field {
            name,
            type_oid: 25,
            source: None,
        });
    }
    let plan = Plan::new(&masking, "app", &[], Viewer::Client, &fields);
    let rows: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            let mut row = Vec::new();
            let email = format!("user{i}@example.com");
            for v in [email.into_bytes()]
                .into_iter()
                .chain((0..4).map(|_| value(&mut seed).into_bytes()))
            {
                row.extend_from_slice(&(v.len() as i32).to_be_bytes());
                row.extend_from_slice(&v);
            }
            row
        })
        .collect();
    let mut best = f64::MAX;
    for _ in 0..50 {
        let mut counts = ResultCounts::default();
        let started = Instant::now();
        for row in &rows {
            black_box(
                rewrite_row(&masking, &plan, &[], black_box(row), 5, &mut counts).expect("masked"),
            );
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    let bytes: usize = rows.iter().map(Vec::len).sum();
    println!(
        "1,000 rows x 5 text columns ({:.0} kB): masked in {:.3} ms (best of 50)",
        bytes as f64 / 1e3,
        best * 1e3
    );

    proxy_table_rows(&masking, &mut seed);
}

/// Rows like `scripts/bench-masking`'s table, through detection only: nanoseconds per row and
/// per column.
fn proxy_table_rows(masking: &Masking, seed: &mut u64) {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    let columns: Vec<Vec<Vec<u8>>> = {
        let mut columns = vec![Vec::new(); 5];
        // 10,000 rows (about 1 MB): in cache, as a row fresh off the socket is.
        // Numbered as the last rows of the million are: ids of six and seven digits.
        for i in 990_001..=1_000_000u64 {
            let hex: String = (0..32)
                .map(|_| char::from(b"0123456789abcdef"[(next() % 16) as usize]))
                .collect();
            let row = [
                format!("customer {i} ordered item {}", i % 997),
                if i % 10 == 0 {
                    format!("user{i}@example.com")
                } else {
                    format!("a note about order {i}")
                },
                hex,
                format!("shipped to warehouse {} on 2024-03-15", i % 50),
                if i % 20 == 0 {
                    format!("+44 20 7946 {:04}", i % 10_000)
                } else {
                    "status ok".to_owned()
                },
            ];
            for (column, value) in columns.iter_mut().zip(row) {
                column.push(value.into_bytes());
            }
        }
        columns
    };
    let rows: Vec<Vec<u8>> = (0..columns[0].len())
        .map(|r| {
            let mut row = Vec::new();
            for column in &columns {
                let v = &column[r];
                row.extend_from_slice(&(v.len() as i32).to_be_bytes());
                row.extend_from_slice(v);
            }
            row
        })
        .collect();
    let detect = Plan::detect_only(5);
    let detectors = masking.detectors();
    let per_row = |pass: &dyn Fn()| {
        let mut best = f64::MAX;
        for _ in 0..50 {
            let started = Instant::now();
            pass();
            best = best.min(started.elapsed().as_secs_f64());
        }
        best * 1e9 / rows.len() as f64
    };
    let row_ns = per_row(&|| {
        let mut counts = ResultCounts::default();
        for row in &rows {
            black_box(
                rewrite_row(masking, &detect, &[], black_box(row), 5, &mut counts).expect("ok"),
            );
        }
    });
    println!("proxy-table rows, detection only: {row_ns:.0} ns per row (best of 50)");
    for (name, column) in ["a", "b", "c", "d", "e"].iter().zip(&columns) {
        let ns = per_row(&|| {
            for v in column {
                black_box(detectors.find(black_box(v)));
            }
        });
        println!("  column {name}: {ns:.0} ns per value");
    }
}
