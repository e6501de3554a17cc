//! Each format as an [`EventSink`].

use std::collections::HashSet;
use std::io::Write;
use std::time::SystemTime;

use portolan_model::{
    EventSink, Flow, PortEvent, PortKey, PortState, ScanReport, ScanStart, SinkError,
};

use crate::jsonl::{self, NoticeRecord, PortRecord, StartRecord};
use crate::{Dest, Format, Paint};

fn closed(name: &str) -> SinkError {
    SinkError::Other(format!("{name} was already closed"))
}

/// JSON Lines, streamed: the `start` record, a `port` record per open port (every port with
/// `all_ports`) as it is found, `notice`s, then `host` records and `end` when the scan finishes.
pub struct JsonlSink {
    dest: Option<Dest>,
    name: String,
    all_ports: bool,
    /// Ports the file already holds (appending to a resumed scan's file).
    skip: HashSet<PortKey>,
}

impl JsonlSink {
    pub fn new(dest: Dest, all_ports: bool) -> JsonlSink {
        JsonlSink {
            name: format!("jsonl output {}", dest.name()),
            dest: Some(dest),
            all_ports,
            skip: HashSet::new(),
        }
    }
    /// Appending to a file that already holds `skip` (a resumed scan): those are not written
    /// again.
    pub fn appending(dest: Dest, all_ports: bool, skip: HashSet<PortKey>) -> JsonlSink {
        JsonlSink {
            skip,
            ..JsonlSink::new(dest, all_ports)
        }
    }
    fn write(&mut self, line: &str) -> Result<Flow, SinkError> {
        let d = self.dest.as_mut().ok_or_else(|| closed(&self.name))?;
        d.write_all(line.as_bytes())?;
        d.write_all(b"\n")?;
        Ok(Flow::Continue)
    }
}

impl EventSink for JsonlSink {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn start(&mut self, start: &ScanStart) -> Result<Flow, SinkError> {
        self.write(&jsonl::line(&StartRecord::new(start)))
    }
    fn port(&mut self, ev: &PortEvent, time: SystemTime) -> Result<Flow, SinkError> {
        if (ev.state == PortState::Open || self.all_ports) && !self.skip.contains(&ev.key()) {
            self.write(&jsonl::line(&PortRecord::new(ev, time)))?;
        }
        Ok(Flow::Continue)
    }
    fn notice(&mut self, msg: &str, time: SystemTime) -> Result<Flow, SinkError> {
        // A notice that cannot be written is not worth stopping for; the next port will tell.
        let _ = self.write(&jsonl::line(&NoticeRecord::new(msg, time)));
        Ok(Flow::Continue)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        if let Some(d) = self.dest.as_mut() {
            d.sync()?;
        }
        Ok(())
    }
    fn finish(&mut self, report: &ScanReport) -> Result<(), SinkError> {
        let mut d = self.dest.take().ok_or_else(|| closed(&self.name))?;
        d.write_all(jsonl::finish_lines(report).as_bytes())?;
        d.flush()?;
        d.commit().map_err(SinkError::from)
    }
}

/// A format written whole when the scan finishes (table, XML, grepable, CSV).
pub struct ReportSink {
    dest: Option<Dest>,
    name: String,
    render: Box<dyn Fn(&ScanReport) -> String>,
}

impl ReportSink {
    /// `paint` and `only_open` matter to the table only. JSON Lines is a [`JsonlSink`]: asked
    /// for here, it is rendered whole at the end.
    pub fn new(format: Format, dest: Dest, paint: Box<dyn Paint>, only_open: bool) -> ReportSink {
        let render: Box<dyn Fn(&ScanReport) -> String> = match format {
            Format::Table => Box::new(move |r| crate::table(r, paint.as_ref(), only_open)),
            Format::Xml => Box::new(crate::xml),
            Format::Grep => Box::new(crate::grep),
            Format::Csv => Box::new(crate::csv),
            Format::Jsonl => Box::new(jsonl::finish_lines),
        };
        ReportSink {
            name: format!("{format} output {}", dest.name()),
            dest: Some(dest),
            render,
        }
    }
}

impl EventSink for ReportSink {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn port(&mut self, _ev: &PortEvent, _time: SystemTime) -> Result<Flow, SinkError> {
        Ok(Flow::Continue)
    }
    fn finish(&mut self, report: &ScanReport) -> Result<(), SinkError> {
        let mut d = self.dest.take().ok_or_else(|| closed(&self.name))?;
        d.write_all((self.render)(report).as_bytes())?;
        d.flush()?;
        d.commit().map_err(SinkError::from)
    }
}
