//! How the console looks and where it writes.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use crate::level::Level;
use crate::providers::lock;

/// When to color the console output.
///
/// ```
/// use budobserve::exporters::{ColorChoice, ConsoleOptions};
///
/// assert_eq!(ColorChoice::parse("never"), Some(ColorChoice::Never)); // as BUD_OBSERVE_CONSOLE_COLORS reads it
/// let _options = ConsoleOptions::new().colors(ColorChoice::Always);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// When the output is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Where the console writes.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use budobserve::exporters::{ConsoleOptions, ConsoleWriter};
///
/// let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));         // a test reading what the console printed
/// let _options = ConsoleOptions::new().writer(ConsoleWriter::Shared(buffer.clone()));
/// ```
#[derive(Clone, Default)]
pub enum ConsoleWriter {
    /// Standard error.
    #[default]
    Stderr,
    /// Standard output.
    Stdout,
    /// Any writer (a file, a buffer in a test).
    Shared(Arc<Mutex<dyn Write + Send>>),
}

impl fmt::Debug for ConsoleWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConsoleWriter::Stderr => "Stderr",
            ConsoleWriter::Stdout => "Stdout",
            ConsoleWriter::Shared(_) => "Shared",
        })
    }
}

impl ConsoleWriter {
    pub(super) fn is_terminal(&self) -> bool {
        match self {
            ConsoleWriter::Stderr => std::io::stderr().is_terminal(),
            ConsoleWriter::Stdout => std::io::stdout().is_terminal(),
            ConsoleWriter::Shared(_) => false,
        }
    }

    /// Writes one line; a failing console never breaks the host, so errors are dropped.
    pub(super) fn write_line(&self, line: &str) {
        let _ = match self {
            ConsoleWriter::Stderr => std::io::stderr().lock().write_all(line.as_bytes()),
            ConsoleWriter::Stdout => std::io::stdout().lock().write_all(line.as_bytes()),
            ConsoleWriter::Shared(writer) => lock(writer).write_all(line.as_bytes()),
        };
    }
}

/// How the console lays out lines.
///
/// ```
/// use budobserve::exporters::{ConsoleOptions, ConsoleStyle};
///
/// assert_eq!(ConsoleStyle::parse("show-parents"), Some(ConsoleStyle::ShowParents));
/// let _options = ConsoleOptions::new().style(ConsoleStyle::Simple);   // no indentation
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsoleStyle {
    /// One line each, no indentation.
    Simple,
    /// Indented by nesting depth.
    Indented,
    /// Indented, and when lines of concurrent traces interleave, the parents of a line are printed again (dimmed)
    /// above it, so every line reads in its own context (the default, as Logfire's console: a service serves
    /// requests concurrently, and a line without its parents cannot be read). One trace at a time prints as
    /// `Indented` does.
    #[default]
    ShowParents,
}

impl ConsoleStyle {
    /// What `BUD_OBSERVE_CONSOLE_STYLE` accepts.
    pub const ACCEPTED: &'static str = "`simple`, `indented` or `show-parents`";

    /// Parses `simple`, `indented` or `show-parents`.
    pub fn parse(text: &str) -> Option<ConsoleStyle> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "simple" => Some(ConsoleStyle::Simple),
            "indented" => Some(ConsoleStyle::Indented),
            "show-parents" => Some(ConsoleStyle::ShowParents),
            _ => None,
        }
    }
}

impl ColorChoice {
    /// What `BUD_OBSERVE_CONSOLE_COLORS` accepts.
    pub const ACCEPTED: &'static str = "`auto`, `always` or `never`";

    /// Parses `auto`, `always` or `never`.
    pub fn parse(text: &str) -> Option<ColorChoice> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(ColorChoice::Auto),
            "always" => Some(ColorChoice::Always),
            "never" => Some(ColorChoice::Never),
            _ => None,
        }
    }
}

/// Options of the console exporter.
///
/// ```
/// use budobserve::Level;
/// use budobserve::exporters::{ColorChoice, ConsoleOptions, ConsoleStyle};
///
/// let console = ConsoleOptions::new()
///     .colors(ColorChoice::Never)
///     .style(ConsoleStyle::ShowParents)
///     .min_level(Level::Debug)
///     .verbose(true);                                    // attributes under each line
/// let _guard = budobserve::configure().console_options(console).install();
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ConsoleOptions {
    pub(crate) colors: Option<ColorChoice>,
    pub(crate) style: Option<ConsoleStyle>,
    pub(super) min_level: Level,
    pub(super) include_timestamps: bool,
    pub(super) verbose: bool,
    pub(super) backtraces: bool,
    pub(super) writer: ConsoleWriter,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        ConsoleOptions {
            colors: None,
            style: None,
            min_level: Level::Info,
            include_timestamps: true,
            verbose: false,
            backtraces: false,
            writer: ConsoleWriter::Stderr,
        }
    }
}

impl ConsoleOptions {
    /// Default options: colors when the output is a terminal that supports them, `show-parents`, logs and spans from
    /// info up, timestamps, stderr.
    pub fn new() -> Self {
        Self::default()
    }

    /// When to color (default `BUD_OBSERVE_CONSOLE_COLORS`, else [`ColorChoice::Auto`]).
    pub fn colors(mut self, colors: ColorChoice) -> Self {
        self.colors = Some(colors);
        self
    }

    /// How lines are laid out (default `BUD_OBSERVE_CONSOLE_STYLE`, else [`ConsoleStyle::ShowParents`]).
    pub fn style(mut self, style: ConsoleStyle) -> Self {
        self.style = Some(style);
        self
    }

    /// The lowest level printed (default info); spans and logs below it are still exported elsewhere.
    pub fn min_level(mut self, level: Level) -> Self {
        self.min_level = level;
        self
    }

    /// Whether lines start with the time.
    pub fn include_timestamps(mut self, include: bool) -> Self {
        self.include_timestamps = include;
        self
    }

    /// Whether each line is followed by where it was written, its level and its attributes.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Whether an exception's backtrace (`exception.stacktrace`, of a panic or of an error with
    /// [`error_backtraces`](crate::ConfigBuilder::error_backtraces)) is printed under it, its own frames first.
    /// Off by default: the exception's type and message say what failed, and the exporters still get the
    /// backtrace.
    pub fn backtraces(mut self, backtraces: bool) -> Self {
        self.backtraces = backtraces;
        self
    }

    /// Where to write.
    pub fn writer(mut self, writer: ConsoleWriter) -> Self {
        self.writer = writer;
        self
    }
}
