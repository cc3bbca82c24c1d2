//! The summary of one invocation: each SPEC §7 figure per target, with the ratios SPEC §7
//! compares (ChatSync / Node, taken within the run, the only comparison this noisy machine
//! supports).

use crate::server::Target;
use serde_json::{Map, Value, json};

/// One figure of the summary: where it is in each target's results, and which ratios of it
/// SPEC §7 states targets for.
struct Row {
    figure: &'static str,
    /// A JSON pointer into a target's results, or `None` for a computed figure.
    pointer: Option<&'static str>,
    /// (numerator, denominator) target names.
    ratios: &'static [(&'static str, &'static str)],
}

impl Row {
    /// The sweep's result: a target that failed the sweep's first step is shown as below it,
    /// with the rate its sweep found further down if any (see [`Below`]), not as 0.
    fn is_sweep(&self) -> bool {
        self.pointer == Some(SUSTAINABLE_RATE)
    }
}

/// Where a target's result holds the sweep's sustainable rate.
const SUSTAINABLE_RATE: &str = "/sweep/sustainable_rate";

const SQLITE_NODE: (&str, &str) = ("chatsync-sqlite", "node");
const PG_NODE: (&str, &str) = ("chatsync-postgres", "node");
const PG_NODE_PG: (&str, &str) = ("chatsync-postgres", "node-pg");

const ROWS: &[Row] = &[
    Row {
        figure: "sustainable rate, msgs/s (every rate from the first up keeps p99 < 50 ms)",
        pointer: Some(SUSTAINABLE_RATE),
        ratios: &[SQLITE_NODE, PG_NODE_PG],
    },
    Row {
        figure: "server CPU per message at the CPU rate, µs",
        pointer: Some("/cpu/server_cpu_us_per_msg"),
        ratios: &[SQLITE_NODE, PG_NODE, PG_NODE_PG],
    },
    Row {
        figure: "PostgreSQL CPU per message at the CPU rate, µs",
        pointer: Some("/cpu/postgres_cpu_us_per_msg"),
        ratios: &[PG_NODE_PG],
    },
    Row {
        figure: "server + PostgreSQL CPU per message at the CPU rate, µs",
        pointer: None,
        ratios: &[SQLITE_NODE, PG_NODE_PG],
    },
    Row {
        figure: "delivery p99 at the CPU rate, ms",
        pointer: Some("/cpu/p99_ms"),
        ratios: &[SQLITE_NODE, PG_NODE_PG],
    },
    Row {
        figure: "bytes per idle authenticated socket",
        pointer: Some("/sockets/bytes_per_socket"),
        ratios: &[SQLITE_NODE, PG_NODE],
    },
    Row {
        figure: "connect rate, sockets/s",
        pointer: Some("/sockets/connect_per_sec"),
        ratios: &[SQLITE_NODE, PG_NODE],
    },
    Row {
        figure: "sockets that failed to connect (either figure above is void unless 0)",
        pointer: Some("/sockets/failed"),
        ratios: &[],
    },
    Row {
        figure: "group fan-out, deliveries/s",
        pointer: Some("/group/deliveries_per_sec"),
        ratios: &[SQLITE_NODE, PG_NODE_PG],
    },
];

fn value(results: &Map<String, Value>, target: &str, row: &Row) -> Option<f64> {
    let r = results.get(target)?;
    match row.pointer {
        Some(p) => r.pointer(p)?.as_f64(),
        None => {
            let server = r.pointer("/cpu/server_cpu_us_per_msg")?.as_f64()?;
            let db = r
                .pointer("/cpu/postgres_cpu_us_per_msg")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            Some(server + db)
        }
    }
}

/// How a target's sweep ended when its very first step failed: its sustainable rate is 0 in
/// the results (SPEC §7 counts from the first rate up), and what is known below it.
#[derive(Clone, Copy)]
enum Below {
    /// The sweep went down from the first rate and this rate passed (the highest that did,
    /// bisected as above the start): a ratio over it is a ratio like any other.
    Measured { rate: f64, start: f64 },
    /// Every rate down to this one failed: the rate is below it, a ratio over it is a lower
    /// bound only.
    Under(f64),
}

fn below_the_first_step(results: &Map<String, Value>, target: &str) -> Option<Below> {
    let sweep = results.get(target)?.get("sweep")?;
    let start = sweep.pointer("/plan/start")?.as_f64()?;
    let failed_at = sweep.get("first_failing_rate")?.as_f64()?;
    if sweep.get("sustainable_rate")?.as_f64()? != 0.0 || failed_at > start {
        return None;
    }
    Some(
        match sweep.get("rate_below_start").and_then(Value::as_f64) {
            Some(rate) if rate > 0.0 => Below::Measured { rate, start },
            _ => Below::Under(failed_at),
        },
    )
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Lost, duplicated and out-of-order deliveries over every measurement of a target.
fn faults(r: &Value) -> (u64, u64, u64) {
    let mut measured: Vec<&Value> = ["direct", "cpu", "group"]
        .iter()
        .filter_map(|s| r.get(*s))
        .collect();
    if let Some(points) = r.pointer("/sweep/points").and_then(Value::as_array) {
        measured.extend(points);
    }
    let sum = |k: &str| measured.iter().filter_map(|m| m[k].as_u64()).sum::<u64>();
    (
        sum("acked_but_not_delivered"),
        sum("duplicates"),
        sum("out_of_order"),
    )
}

/// The summary as JSON and as a Markdown table, for the targets that ran, in the order of
/// [`Target::ALL`].
pub(crate) fn summary(results: &Map<String, Value>) -> (Value, String) {
    let targets: Vec<&String> = Target::ALL
        .iter()
        .filter_map(|t| results.get_key_value(t.name()).map(|(k, _)| k))
        .collect();
    let mut rows = Vec::new();
    let mut md = format!(
        "| figure | {} | ratios (ChatSync / Node) |\n|---|{}---|\n",
        targets
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(targets.len())
    );
    for row in ROWS {
        let values: Map<String, Value> = targets
            .iter()
            .filter_map(|t| Some(((*t).clone(), json!(value(results, t, row)?))))
            .collect();
        if values.is_empty() {
            continue;
        }
        let below = |t: &str| {
            row.is_sweep()
                .then(|| below_the_first_step(results, t))
                .flatten()
        };
        let mut ratios = Map::new();
        // Ratios over a target that failed every step it was offered: at least this much.
        let mut at_least = Map::new();
        // Ratios over a target's rate below the sweep's first step.
        let mut over_below = Vec::new();
        for (a, b) in row.ratios {
            let Some(x) = value(results, a, row) else {
                continue;
            };
            let key = format!("{a} / {b}");
            match (value(results, b, row), below(b)) {
                (_, Some(Below::Under(limit))) if x > 0.0 && below(a).is_none() => {
                    at_least.insert(key, json!(round2(x / limit)));
                }
                (_, Some(Below::Measured { rate, .. })) if x > 0.0 && below(a).is_none() => {
                    ratios.insert(key.clone(), json!(round2(x / rate)));
                    over_below.push(key);
                }
                (Some(y), None) if y > 0.0 => {
                    ratios.insert(key, json!(round2(x / y)));
                }
                _ => {}
            }
        }
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            row.figure,
            targets
                .iter()
                .map(|t| match below(t) {
                    Some(Below::Under(limit)) => format!("< {}", number(limit)),
                    Some(Below::Measured { rate, start }) =>
                        format!("< {} ({} passed, swept down)", number(start), number(rate)),
                    None => value(results, t, row).map_or("—".to_owned(), number),
                })
                .collect::<Vec<_>>()
                .join(" | "),
            row.ratios
                .iter()
                .filter_map(|(a, b)| {
                    let k = format!("{a} / {b}");
                    let note = if over_below.contains(&k) {
                        format!(" (over {b}'s rate below the first step)")
                    } else {
                        String::new()
                    };
                    ratios
                        .get(&k)
                        .map(|v| format!("{k}: {v}×{note}"))
                        .or_else(|| at_least.get(&k).map(|v| format!("{k}: > {v}×")))
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let mut out = json!({"figure": row.figure, "values": values, "ratios": ratios});
        if !at_least.is_empty() {
            out["ratios_at_least"] = Value::Object(at_least);
        }
        let below_rates: Map<String, Value> = targets
            .iter()
            .filter_map(|t| match below(t) {
                Some(Below::Measured { rate, .. }) => Some(((*t).clone(), json!(rate))),
                _ => None,
            })
            .collect();
        if !below_rates.is_empty() {
            out["rates_below_first_step"] = Value::Object(below_rates);
        }
        rows.push(out);
    }
    let fault_cells: Vec<String> = targets
        .iter()
        .map(|t| {
            let (l, d, o) = faults(&results[t.as_str()]);
            format!("{l} / {d} / {o}")
        })
        .collect();
    md.push_str(&format!(
        "| acked but not delivered within 15 s / duplicated / out of order, every measurement | {} | |\n",
        fault_cells.join(" | ")
    ));
    rows.push(json!({
        "figure": "acked but not delivered within 15 s / duplicated / out of order, every measurement",
        "values": targets.iter().zip(&fault_cells).map(|(t, c)| ((*t).clone(), json!(c))).collect::<Map<_, _>>(),
    }));
    (Value::Array(rows), md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_gives_each_figure_with_the_ratios_spec_compares() {
        let results: Map<String, Value> = serde_json::from_value(json!({
            "chatsync-sqlite": {
                "sweep": {"sustainable_rate": 27000, "points": [{"acked_but_not_delivered": 0, "duplicates": 0, "out_of_order": 0}]},
                "cpu": {"server_cpu_us_per_msg": 90.0, "p99_ms": 4.0, "acked_but_not_delivered": 0, "duplicates": 0, "out_of_order": 0},
            },
            "chatsync-postgres": {
                "sweep": {"sustainable_rate": 12000},
                "cpu": {"server_cpu_us_per_msg": 60.0, "postgres_cpu_us_per_msg": 40.0, "p99_ms": 8.0},
            },
            "node": {
                "sweep": {"sustainable_rate": 18000},
                "cpu": {"server_cpu_us_per_msg": 100.0, "p99_ms": 2.0},
            },
            "node-pg": {
                "sweep": {"sustainable_rate": 1000},
                "cpu": {"server_cpu_us_per_msg": 150.0, "postgres_cpu_us_per_msg": 250.0, "p99_ms": 20.0, "duplicates": 2},
            },
        }))
        .unwrap();
        let (rows, md) = summary(&results);
        let rate = &rows[0];
        assert_eq!(rate["values"]["node"], json!(18000.0));
        assert_eq!(rate["ratios"]["chatsync-sqlite / node"], json!(1.5));
        assert_eq!(rate["ratios"]["chatsync-postgres / node-pg"], json!(12.0));
        let cpu = &rows[1];
        assert_eq!(cpu["ratios"]["chatsync-sqlite / node"], json!(0.9));
        assert_eq!(cpu["ratios"]["chatsync-postgres / node"], json!(0.6));
        let both = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                r["figure"]
                    .as_str()
                    .unwrap()
                    .starts_with("server + PostgreSQL")
            })
            .unwrap();
        assert_eq!(both["values"]["chatsync-postgres"], json!(100.0));
        assert_eq!(both["ratios"]["chatsync-postgres / node-pg"], json!(0.25));
        assert!(rate.get("ratios_at_least").is_none());
        // Figures no target measured are left out rather than shown empty.
        assert!(!md.contains("bytes per idle"));
        assert!(md.contains("| acked but not delivered within 15 s / duplicated / out of order, every measurement | 0 / 0 / 0 | 0 / 0 / 0 | 0 / 0 / 0 | 0 / 2 / 0 | |"));
    }

    #[test]
    fn a_peer_that_fails_the_first_step_is_shown_below_it_and_the_ratio_as_a_lower_bound() {
        let plan = json!({"start": 1000, "factor": 1.5});
        let results: Map<String, Value> = serde_json::from_value(json!({
            "chatsync-postgres": {
                "sweep": {"sustainable_rate": 12000, "first_failing_rate": 12600, "plan": plan},
            },
            "node-pg": {
                "sweep": {"sustainable_rate": 0, "first_failing_rate": 1000, "plan": plan},
            },
        }))
        .unwrap();
        let (rows, md) = summary(&results);
        let rate = &rows[0];
        assert_eq!(rate["values"]["node-pg"], json!(0.0));
        assert!(rate["ratios"].as_object().unwrap().is_empty());
        assert_eq!(
            rate["ratios_at_least"]["chatsync-postgres / node-pg"],
            json!(12.0)
        );
        assert!(
            md.contains("| 12000 | < 1000 | chatsync-postgres / node-pg: > 12.0×"),
            "{md}"
        );
    }

    #[test]
    fn a_peer_swept_below_the_first_step_is_compared_at_the_rate_it_passed_there() {
        let plan = json!({"start": 1000, "factor": 1.5, "floor": 100});
        let results: Map<String, Value> = serde_json::from_value(json!({
            "chatsync-postgres": {
                "sweep": {"sustainable_rate": 9360, "first_failing_rate": 9800, "plan": plan},
            },
            "node-pg": {
                "sweep": {"sustainable_rate": 0, "first_failing_rate": 800,
                          "rate_below_start": 780, "plan": plan},
            },
        }))
        .unwrap();
        let (rows, md) = summary(&results);
        let rate = &rows[0];
        assert_eq!(
            rate["values"]["node-pg"],
            json!(0.0),
            "SPEC §7's figure stays 0"
        );
        assert_eq!(rate["rates_below_first_step"]["node-pg"], json!(780.0));
        assert_eq!(rate["ratios"]["chatsync-postgres / node-pg"], json!(12.0));
        assert!(rate.get("ratios_at_least").is_none());
        assert!(
            md.contains(
                "| 9360 | < 1000 (780 passed, swept down) | chatsync-postgres / node-pg: 12.0× \
                 (over node-pg's rate below the first step)"
            ),
            "{md}"
        );
    }

    #[test]
    fn a_peer_that_failed_down_to_the_floor_gives_a_lower_bound_over_its_lowest_failure() {
        let plan = json!({"start": 1000, "factor": 1.5, "floor": 100});
        let results: Map<String, Value> = serde_json::from_value(json!({
            "chatsync-postgres": {"sweep": {"sustainable_rate": 5000, "plan": plan}},
            "node-pg": {
                "sweep": {"sustainable_rate": 0, "first_failing_rate": 100,
                          "rate_below_start": null, "plan": plan},
            },
        }))
        .unwrap();
        let (rows, md) = summary(&results);
        assert_eq!(
            rows[0]["ratios_at_least"]["chatsync-postgres / node-pg"],
            json!(50.0)
        );
        assert!(
            md.contains("| 5000 | < 100 | chatsync-postgres / node-pg: > 50.0×"),
            "{md}"
        );
    }
}
