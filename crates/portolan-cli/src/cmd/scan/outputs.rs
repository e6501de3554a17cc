//! The scan's outputs (sinks over `portolan-report`) and what the user sees on stderr.

use std::io::IsTerminal;

use anyhow::Result;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use portolan_model::{EventSink, PortEvent};
use portolan_report::{jsonl, Dest, Format, JsonlSink, OutputSpec, ReportSink};
use portolan_scan::connect::Status;
use portolan_scan::ports;
use portolan_scan::session::{Observer, Prepared, ScanOutcome};

use super::ScanArgs;
use crate::term::{escape, Style};

/// One sink per `-o`, plus standard output's unless an `-o` writes there. Files written whole
/// are created (as temporary files) first, JSON Lines streams (which truncate, or append to a
/// resumed scan's file) last, so an output that cannot be opened leaves the others untouched.
pub fn open(
    specs: &[OutputSpec],
    args: &ScanArgs,
    style: Style,
    resumed: bool,
) -> Result<Vec<Box<dyn EventSink>>> {
    let mut all: Vec<OutputSpec> = specs.to_vec();
    if !specs.iter().any(|s| s.path.is_none()) {
        all.push(OutputSpec {
            format: args.stdout_format(),
            path: None,
        });
    }
    let mut sinks: Vec<Box<dyn EventSink>> = Vec::new();
    for s in all.iter().filter(|s| s.format != Format::Jsonl) {
        let dest = Dest::open(s.path.as_deref())?;
        sinks.push(Box::new(ReportSink::new(
            s.format,
            dest,
            Box::new(style),
            args.open,
        )));
    }
    for s in all.iter().filter(|s| s.format == Format::Jsonl) {
        let sink = match &s.path {
            None => JsonlSink::new(Dest::Stdout, args.all_ports),
            Some(p) if resumed => {
                let have = jsonl::existing_ports(p).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot read output file {} to append to it: {e}",
                        p.display()
                    )
                })?;
                JsonlSink::appending(Dest::stream(p, true)?, args.all_ports, have)
            }
            Some(p) => JsonlSink::new(Dest::stream(p, false)?, args.all_ports),
        };
        sinks.push(Box::new(sink));
    }
    Ok(sinks)
}

/// Progress bar and notices on stderr.
pub struct Ui {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Ui {
    pub fn new(quiet: bool) -> Ui {
        let show_bar = !quiet && std::io::stderr().is_terminal();
        let bar = show_bar.then(|| {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{bar:30}] {human_pos}/{human_len} {per_sec} · {msg} · ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        Ui { bar, quiet }
    }

    fn say(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(b) => b.println(format!("portolan: {msg}")),
            None => eprintln!("portolan: {msg}"),
        }
    }

    /// What preparation found worth saying.
    pub fn preamble(&self, prep: &Prepared) {
        for n in prep.notices() {
            // The fallback notice is printed even with -q, as before.
            eprintln!("portolan: {n}");
        }
        if prep.builtin_ranking() {
            self.say(&format!(
                "{} not found: using Portolan's built-in top-ports ranking",
                ports::NMAP_SERVICES
            ));
        }
    }

    /// After the scan: the raw engine's counters and where progress was saved.
    pub fn summary(&self, o: &ScanOutcome) {
        if let Some(r) = &o.raw {
            if r.udp_unconfirmed > 0 {
                self.say(&format!(
                    "{} UDP ports sent no reply and no ICMP port-unreachable (Linux rate-limits \
                     ICMP): reported open|filtered, not confirmed closed",
                    r.udp_unconfirmed
                ));
            }
            if r.host_holds > 0 {
                self.say(&format!(
                    "{} probes waited for their host's own window (a host that lost probes was \
                     slowed down alone)",
                    r.host_holds
                ));
            }
            if r.rx_invalid > 0 {
                self.say(&format!(
                    "ignored {} packets that looked like replies but failed validation",
                    r.rx_invalid
                ));
            }
        }
        if let Some(p) = &o.saved {
            self.say(&format!(
                "interrupted; progress saved to {} — run the same command to continue",
                p.display()
            ));
        }
    }
}

impl Observer for Ui {
    fn status(&mut self, st: &Status) {
        if let Some(b) = &self.bar {
            b.set_length(st.planned);
            b.set_position(st.completed);
            b.set_message(format!(
                "{} open · window {} · timeout {}ms",
                st.open,
                st.window,
                st.timeout.as_millis()
            ));
        }
    }
    fn notice(&mut self, msg: &str) {
        self.say(msg);
    }
    fn open(&mut self, ev: &PortEvent) {
        if let Some(b) = &self.bar {
            b.println(format!(
                "open {}/{} on {} {}",
                ev.port,
                ev.proto,
                ev.addr,
                ev.service
                    .as_ref()
                    .map(|s| escape(&s.name))
                    .unwrap_or_default()
            ));
        }
    }
    fn engine_done(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
