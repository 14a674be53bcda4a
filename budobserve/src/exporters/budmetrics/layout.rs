//! The table that exists: its columns' types, read at start, decide the header an insert sends and the precision
//! of its times — or why BudObserve's rows cannot go there, named column by column.

use super::schema::{COLUMNS, CollectorGeneration, Shape};
use super::wire::{write_string, write_varint};

/// How rows are written to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Layout {
    pub(super) generation: CollectorGeneration,
    /// The `RowBinaryWithNamesAndTypes` header: the column count, the names, the table's types.
    pub(super) header: Vec<u8>,
    /// Nanoseconds per unit of `Timestamp` and of `Events.Timestamp` (`DateTime64(9)`: 1, `DateTime64(6)`: 1,000).
    pub(super) time_unit: i64,
    pub(super) event_time_unit: i64,
}

impl Layout {
    /// The layout of the table the exporter creates for `generation`: used when the table's columns cannot be
    /// read (a user allowed to insert but not to list columns), the server then checks the header itself.
    pub(super) fn created(generation: CollectorGeneration) -> Layout {
        let types = COLUMNS.map(|(name, _, kind)| if name == "Duration" { generation.duration_type() } else { kind });
        Layout { generation, header: header(&types), time_unit: 1, event_time_unit: 1 }
    }

    /// The layout of a table whose columns are `columns` (`name\ttype` lines, as `system.columns` lists them), or
    /// every reason it cannot hold BudObserve's rows. No column listed: [`created`](Self::created).
    pub(super) fn of_table(generation: CollectorGeneration, columns: &str) -> Result<Layout, String> {
        let listed: Vec<(String, String)> = columns
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(name, kind)| (unescape(name), unescape(kind)))
            .collect();
        if listed.is_empty() {
            return Ok(Layout::created(generation));
        }
        let mut types: [&str; COLUMNS.len()] = [""; COLUMNS.len()];
        let mut problems = Vec::new();
        for ((name, shape, _), slot) in COLUMNS.iter().zip(types.iter_mut()) {
            match listed.iter().find(|(listed, _)| listed == name) {
                None => problems.push(format!("it has no column `{name}` ({})", shape.accepted())),
                Some((_, kind)) if !fits(kind, *shape) => {
                    problems.push(format!("column `{name}` is {kind}, BudObserve writes {}", shape.accepted()));
                }
                Some((_, kind)) => *slot = kind,
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        Ok(Layout {
            generation,
            header: header(&types),
            time_unit: time_unit(types[0]),
            event_time_unit: time_unit(types[15]),
        })
    }
}

/// A field of `TabSeparated` output, its escapes undone (`DateTime64(6, \'UTC\')` is `DateTime64(6, 'UTC')`).
fn unescape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

fn header(types: &[&str; COLUMNS.len()]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    write_varint(&mut out, COLUMNS.len());
    for (name, _, _) in COLUMNS {
        write_string(&mut out, name);
    }
    for kind in types {
        write_string(&mut out, kind);
    }
    out
}

/// `kind` without a `LowCardinality(…)` around it.
fn bare(kind: &str) -> &str {
    kind.strip_prefix("LowCardinality(").and_then(|rest| rest.strip_suffix(')')).unwrap_or(kind).trim()
}

/// The precision `P` of `DateTime64(P)` or `DateTime64(P, 'zone')`.
fn precision(kind: &str) -> Option<u32> {
    let inner = bare(kind).strip_prefix("DateTime64(")?.strip_suffix(')')?;
    let digits = inner.split(',').next()?.trim();
    digits.parse::<u32>().ok().filter(|p| *p <= 9)
}

fn time_unit(kind: &str) -> i64 {
    let kind = bare(kind);
    let kind = kind.strip_prefix("Array(").and_then(|k| k.strip_suffix(')')).unwrap_or(kind);
    10_i64.pow(9 - precision(kind).unwrap_or(9))
}

fn fits(kind: &str, shape: Shape) -> bool {
    let kind = bare(kind);
    match shape {
        Shape::Time => precision(kind).is_some(),
        Shape::Text => kind == "String",
        Shape::Nanos => kind == "UInt64" || kind == "Int64",
        Shape::Attributes => kind
            .strip_prefix("Map(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|rest| rest.split_once(','))
            .is_some_and(|(key, value)| fits(key, Shape::Text) && fits(value, Shape::Text)),
        Shape::Array(item) => {
            kind.strip_prefix("Array(").and_then(|rest| rest.strip_suffix(')')).is_some_and(|rest| fits(rest, *item))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(replace: &[(&str, &str)]) -> String {
        COLUMNS
            .iter()
            .map(|(name, _, kind)| {
                let kind = replace.iter().find(|(n, _)| n == name).map_or(*kind, |(_, k)| *k);
                format!("{name}\t{kind}\n")
            })
            .collect()
    }

    #[test]
    fn the_tables_types_are_sent_back_to_it() {
        let int64 = Layout::of_table(CollectorGeneration::Current, &listing(&[("Duration", "Int64")])).unwrap();
        assert_eq!(
            int64,
            Layout::created(CollectorGeneration::Contrib0_96).with_generation(CollectorGeneration::Current)
        );
        // As `TabSeparated` writes it: the quotes escaped.
        let micros = listing(&[("Timestamp", r"DateTime64(6, \'UTC\')"), ("SpanName", "String")]);
        let layout = Layout::of_table(CollectorGeneration::Current, &micros).unwrap();
        assert_eq!((layout.time_unit, layout.event_time_unit), (1_000, 1));
        assert!(layout.header.windows(20).any(|w| w == b"DateTime64(6, 'UTC')"));
    }

    #[test]
    fn every_misfit_is_named_with_both_types() {
        let listing = listing(&[("Duration", "Float64"), ("Events.Attributes", "Array(Map(String, UInt8))")])
            .replace("ScopeName\tString\n", "");
        let err = Layout::of_table(CollectorGeneration::Contrib0_96, &listing).unwrap_err();
        assert_eq!(
            err,
            "it has no column `ScopeName` (String or LowCardinality(String)); column `Duration` is Float64, \
             BudObserve writes UInt64 or Int64; column `Events.Attributes` is Array(Map(String, UInt8)), BudObserve \
             writes Array(Map(String, String))"
        );
    }

    #[test]
    fn an_unlisted_table_gets_the_generations_layout() {
        assert_eq!(
            Layout::of_table(CollectorGeneration::Contrib0_96, "").unwrap(),
            Layout::created(CollectorGeneration::Contrib0_96)
        );
    }

    impl Layout {
        fn with_generation(mut self, generation: CollectorGeneration) -> Layout {
            self.generation = generation;
            self
        }
    }
}
