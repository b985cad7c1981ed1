//! Facts + verdict per statement, with the default pack: p50 and p99 for pgbench's statements

//! (TPC-B and select-only, as the extended protocol sends them and as the simple protocol sends
//! them with literal values) and for complex analytical queries, uncached and cached.
//!
//!   cargo bench -p proxy --bench policy
//!
//! Modes: `uncached` parses the text and evaluates every Cedar request; `facts cached` takes
//! the facts from the analyzer's cache and evaluates; `cached` is what the gateway does for a
//! statement it has seen (facts by text, the decision by facts and principal). Each sample is
//! one statement; BENCH_SAMPLES sets how many (default 20000 per statement set and mode).

// A panic in a benchmark is a broken benchmark, not a crashed gateway.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use proxy::policy::facts::MessageFacts;
use proxy::policy::{CedarPolicy, Decision, Policy, PolicyConfig, PreparedStatements, Request};

/// pgbench's TPC-B-like script, as its extended and prepared modes send it.
const TPCB: [&str; 7] = [
    "BEGIN;",
    "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;",
    "SELECT abalance FROM pgbench_accounts WHERE aid = $1;",
    "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2;",
    "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2;",
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);",
    "END;",
];

/// pgbench -S.
const SELECT_ONLY: [&str; 1] = ["SELECT abalance FROM pgbench_accounts WHERE aid = $1;"];

/// Analytical queries: joins, CTEs, subqueries, windows, set operations.
const ANALYTICAL: [&str; 6] = [
    // TPC-H Q1-like: pricing summary.
    "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, sum(l_extendedprice) AS sum_base_price,
            sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
            sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge, avg(l_quantity) AS avg_qty,
            avg(l_extendedprice) AS avg_price, avg(l_discount) AS avg_disc, count(*) AS count_order
       FROM lineitem WHERE l_shipdate <= date '1998-12-01' - interval '90' day
      GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus",
    // TPC-H Q5-like: six-way join.
    "SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue
       FROM customer, orders, lineitem, supplier, nation, region
      WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_suppkey = s_suppkey
        AND c_nationkey = s_nationkey AND s_nationkey = n_nationkey AND n_regionkey = r_regionkey
        AND r_name = 'ASIA' AND o_orderdate >= date '1994-01-01' AND o_orderdate < date '1995-01-01'
      GROUP BY n_name ORDER BY revenue DESC",
    // TPC-H Q17-like: correlated subquery.
    "SELECT sum(l_extendedprice) / 7.0 AS avg_yearly FROM lineitem, part
      WHERE p_partkey = l_partkey AND p_brand = 'Brand#23' AND p_container = 'MED BOX'
        AND l_quantity < (SELECT 0.2 * avg(l_quantity) FROM lineitem WHERE l_partkey = p_partkey)",
    // CTEs and a window.
    "WITH monthly AS (
         SELECT date_trunc('month', o.created) AS month, c.region, sum(o.total) AS revenue
           FROM sales.orders o JOIN sales.customers c ON c.id = o.customer_id
          WHERE o.status <> 'cancelled' GROUP BY 1, 2),
       ranked AS (
         SELECT month, region, revenue,
                rank() OVER (PARTITION BY month ORDER BY revenue DESC) AS place,
                revenue - lag(revenue) OVER (PARTITION BY region ORDER BY month) AS growth
           FROM monthly)
     SELECT * FROM ranked WHERE place <= 3 ORDER BY month DESC, place LIMIT 100",
    // Set operations, EXISTS, IN, a lateral join.
    "SELECT a.id, a.owner, last.total
       FROM accounts a
       CROSS JOIN LATERAL (SELECT total FROM orders o WHERE o.account_id = a.id ORDER BY created DESC LIMIT 1) last
      WHERE EXISTS (SELECT 1 FROM payments p WHERE p.account_id = a.id AND p.amount > 100)
        AND a.id IN (SELECT account_id FROM orders GROUP BY account_id HAVING count(*) > 5
                     UNION SELECT account_id FROM refunds
                     EXCEPT SELECT account_id FROM blocked_accounts)",
    // A reporting query with CASE, COALESCE and scalar subqueries.
    "SELECT c.name,
            coalesce((SELECT sum(total) FROM orders o WHERE o.account_id = c.id), 0) AS spent,
            CASE WHEN c.tier = 'gold' THEN (SELECT max(total) FROM orders) ELSE 0 END AS cap,
            count(DISTINCT i.id) FILTER (WHERE i.paid) AS paid_invoices
       FROM customers c LEFT JOIN invoices i ON i.customer_id = c.id
      GROUP BY c.id, c.name, c.tier ORDER BY spent DESC NULLS LAST FETCH FIRST 50 ROWS ONLY",
];

struct Who {
    subject: String,
    agents: Vec<String>,
    groups: Vec<String>,
}

fn request<'a>(who: &'a Who, text: &'a str, facts: &'a Arc<MessageFacts>) -> Request<'a> {
    Request {
        subject: &who.subject,
        agents: &who.agents,
        groups: &who.groups,
        target: "app",
        protocol: schemas::Protocol::Postgres,
        text,
        facts,
        client: None,
        time: SystemTime::now(),
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Uncached,
    FactsCached,
    Cached,
}

fn once(policy: &CedarPolicy, who: &Who, text: &str, mode: Mode) -> Decision {
    match mode {
        Mode::Uncached => {
            let facts = Arc::new(policy.analyzer().analyze(text));
            let facts = PreparedStatements::new().resolve(&facts);
            policy.evaluate(&request(who, text, &facts)).decision
        }
        Mode::FactsCached => {
            let facts = policy.facts(text);
            policy.evaluate(&request(who, text, &facts)).decision
        }
        Mode::Cached => {
            let facts = policy.facts(text);
            policy.decide(&request(who, text, &facts))
        }
    }
}

fn measure(
    policy: &CedarPolicy,
    who: &Who,
    texts: &[String],
    mode: Mode,
    samples: usize,
) -> Vec<Duration> {
    // Warm up on other texts of the same shape when every text is new (simple mode), so that
    // the measured ones are still unseen.
    let warm: Vec<String> = match texts.len() > samples {
        true => simple_mode_texts(samples / 70 + 1)
            .into_iter()
            .map(|t| format!("{t} -- warm"))
            .collect(),
        false => texts.to_vec(),
    };
    for text in warm.iter().cycle().take(samples / 10 + warm.len()) {
        black_box(once(policy, who, text, mode));
    }
    let mut times = Vec::with_capacity(samples);
    for text in texts.iter().cycle().take(samples) {
        let started = Instant::now();
        black_box(once(policy, who, text, mode));
        times.push(started.elapsed());
    }
    times.sort();
    times
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// pgbench -M simple: literal values, a new text every time (the cache cannot help).
fn simple_mode_texts(count: usize) -> Vec<String> {
    (0..count)
        .flat_map(|i| {
            let (aid, tid, bid, delta) = (i * 7919 % 100_000 + 1, i % 10 + 1, 1, i as i64 % 5000 - 2500);
            [
                "BEGIN;".to_owned(),
                format!("UPDATE pgbench_accounts SET abalance = abalance + {delta} WHERE aid = {aid};"),
                format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid};"),
                format!("UPDATE pgbench_tellers SET tbalance = tbalance + {delta} WHERE tid = {tid};"),
                format!("UPDATE pgbench_branches SET bbalance = bbalance + {delta} WHERE bid = {bid};"),
                format!(
                    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ({tid}, {bid}, {aid}, {delta}, CURRENT_TIMESTAMP);"
                ),
                "END;".to_owned(),
            ]
        })
        .collect()
}

fn main() {
    let samples: usize = std::env::var("BENCH_SAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let policy = PolicyConfig::default()
        .open(Path::new("."))
        .expect("the default pack loads");
    let who = Who {
        subject: "dev@example.com".into(),
        agents: vec!["coding-agent".into()],
        groups: vec!["agents".into()],
    };
    for text in TPCB.iter().chain(&SELECT_ONLY).chain(&ANALYTICAL) {
        let decision = once(&policy, &who, text, Mode::Uncached);
        assert!(
            matches!(decision, Decision::Allow { .. }),
            "{text}: {decision:?}"
        );
    }
    let owned = |texts: &[&str]| texts.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
    let sets: [(&str, Vec<String>, &[Mode]); 4] = [
        (
            "pgbench TPC-B (prepared texts)",
            owned(&TPCB),
            &[Mode::Uncached, Mode::FactsCached, Mode::Cached],
        ),
        (
            "pgbench -S (prepared text)",
            owned(&SELECT_ONLY),
            &[Mode::Uncached, Mode::FactsCached, Mode::Cached],
        ),
        (
            "pgbench TPC-B -M simple (literals)",
            simple_mode_texts(samples / 7 + 2),
            &[Mode::Cached],
        ),
        (
            "analytical (6 queries)",
            owned(&ANALYTICAL),
            &[Mode::Uncached, Mode::FactsCached, Mode::Cached],
        ),
    ];
    println!("facts + verdict per statement, default pack, {samples} samples per row");
    println!(
        "{:<38} {:<14} {:>10} {:>10}",
        "statements", "mode", "p50", "p99"
    );
    for (name, texts, modes) in &sets {
        for mode in *modes {
            let label = match mode {
                Mode::Uncached => "uncached",
                Mode::FactsCached => "facts cached",
                // For literal texts every statement is new: a miss, then kept.
                Mode::Cached if name.contains("simple") => "as gateway",
                Mode::Cached => "cached",
            };
            let times = measure(&policy, &who, texts, *mode, samples);
            println!(
                "{:<38} {:<14} {:>10.2?} {:>10.2?}",
                name,
                label,
                percentile(&times, 0.50),
                percentile(&times, 0.99)
            );
        }
    }
}
