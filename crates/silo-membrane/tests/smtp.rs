//! SMTP delivery: `SmtpOutbox` against a fake relay on loopback delivers each message id at
//! most once (replays and conflicts send nothing, a failed send can be retried, an
//! unconfirmed one is never resent), hands SMS to its fallback, and never shows the relay
//! password.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use silo_membrane::connectors::outbox::{Channel, DirOutbox, OutboundMessage, Outbox, SendOutcome};
use silo_membrane::connectors::smtp::{
    message_id_header, smtp_error, SmtpConfig, SmtpError, SmtpOutbox, FROM_VAR, URL_VAR,
};

const FROM: &str = "Acme Support <support@acme.example>";
const TO: &str = "jane.smith@example.com";
const PASSWORD: &str = "hunter2-relay-secret";

/// How the fake relay answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Takes every message.
    Accept,
    /// Refuses every recipient with 550, after `delay`.
    RejectRecipient { delay: Duration },
    /// Reads the whole message, then closes the connection without answering.
    SilentAfterData,
}

/// One message the fake relay took.
#[derive(Debug, Clone)]
struct Received {
    mail_from: String,
    rcpt_to: Vec<String>,
    data: String,
}

impl Received {
    /// The value of header `name` (unfolded), if present.
    fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((n, v)) = line.split_once(": ") {
                if n.eq_ignore_ascii_case(name) {
                    value = Some(v.to_owned());
                }
            }
        }
        value
    }

    fn body(&self) -> String {
        self.data
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.replace("\r\n", "\n"))
            .unwrap_or_default()
    }
}

struct RelayState {
    mode: Mutex<Mode>,
    received: Mutex<Vec<Received>>,
}

/// A fake SMTP relay on 127.0.0.1, one connection at a time. It stops when dropped, and by
/// itself after a minute.
struct FakeRelay {
    addr: SocketAddr,
    state: Arc<RelayState>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeRelay {
    fn start(mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(RelayState {
            mode: Mutex::new(mode),
            received: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                let deadline = std::time::Instant::now() + Duration::from_secs(60);
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) || std::time::Instant::now() > deadline {
                        break;
                    }
                    if let Ok(conn) = conn {
                        let _ = serve(conn, &state);
                    }
                }
            })
        };
        Self {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }
}

impl Drop for FakeRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Speaks enough SMTP for one client: greeting, EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
fn serve(conn: TcpStream, state: &RelayState) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut out = conn.try_clone()?;
    let mut lines = BufReader::new(conn);
    out.write_all(b"220 fake.relay ESMTP\r\n")?;
    let mode = *state.mode.lock().unwrap();
    let (mut mail_from, mut rcpt_to) = (String::new(), Vec::new());
    loop {
        let mut line = String::new();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command.get(..4).unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => {
                out.write_all(b"250-fake.relay\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")?
            }
            "MAIL" => {
                mail_from = command["MAIL FROM:".len()..].to_owned();
                rcpt_to.clear();
                out.write_all(b"250 2.1.0 ok\r\n")?;
            }
            "RCPT" => match mode {
                Mode::RejectRecipient { delay } => {
                    std::thread::sleep(delay);
                    out.write_all(b"550 5.1.1 no such user here\r\n")?;
                }
                _ => {
                    rcpt_to.push(command["RCPT TO:".len()..].to_owned());
                    out.write_all(b"250 2.1.5 ok\r\n")?;
                }
            },
            "DATA" => {
                out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let mut data = String::new();
                loop {
                    let mut l = String::new();
                    if lines.read_line(&mut l)? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                state.received.lock().unwrap().push(Received {
                    mail_from: mail_from.clone(),
                    rcpt_to: rcpt_to.clone(),
                    data,
                });
                if mode == Mode::SilentAfterData {
                    return Ok(());
                }
                out.write_all(b"250 2.0.0 queued\r\n")?;
            }
            "RSET" | "NOOP" => out.write_all(b"250 ok\r\n")?,
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            _ => out.write_all(b"502 5.5.2 unknown command\r\n")?,
        }
    }
}

fn email(body: &str) -> OutboundMessage {
    OutboundMessage {
        message_id: OutboundMessage::id_for("cust-1", Channel::Email, "k1"),
        channel: Channel::Email,
        to: TO.into(),
        subject: Some("Your refund rf_1".into()),
        body: body.into(),
        template: "refund_issued".into(),
        task: "task-1".into(),
        agent: "support".into(),
        created_at: 1_700_000_000,
    }
}

fn config(url: &str) -> SmtpConfig {
    let mut c = SmtpConfig::new(url, FROM);
    c.timeout = Duration::from_secs(5);
    c
}

fn outbox(url: &str, journal: &Path) -> SmtpOutbox {
    SmtpOutbox::new(
        &config(url),
        DirOutbox::new(journal),
        Box::new(DirOutbox::new(&journal.join("fallback"))),
    )
    .unwrap()
}

/// The port of a listener that was just closed: nothing answers there.
fn dead_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("smtp://{addr}")
}

#[test]
fn delivers_one_email_with_headers_body_and_message_id() {
    let relay = FakeRelay::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(&relay.url(), dir.path());
    let m = email("Dear Jane Smith,\nwe refunded $12.34.\n.leading dot stays");
    assert_eq!(out.send(&m).unwrap(), SendOutcome::Queued);
    let got = relay.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.mail_from, "<support@acme.example>");
    assert_eq!(r.rcpt_to, vec![format!("<{TO}>")]);
    assert_eq!(r.header("To").as_deref(), Some(TO));
    assert_eq!(
        r.header("From").as_deref(),
        Some("\"Acme Support\" <support@acme.example>")
    );
    assert_eq!(r.header("Subject").as_deref(), Some("Your refund rf_1"));
    let id = message_id_header(&m.message_id);
    assert_eq!(id, format!("<{}@silo>", m.message_id));
    assert_eq!(r.header("Message-ID"), Some(id));
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(r.body().trim_end(), m.body);
    // Journaled where the directory outbox keeps it.
    assert_eq!(out.journal().messages(Channel::Email).unwrap(), vec![m]);
}

#[test]
fn a_replay_delivers_nothing_new() {
    let relay = FakeRelay::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(&relay.url(), dir.path());
    assert_eq!(out.send(&email("hello")).unwrap(), SendOutcome::Queued);
    assert_eq!(out.send(&email("hello")).unwrap(), SendOutcome::Replayed);
    // A fresh outbox on the same journal (a restarted membrane) replays too.
    let restarted = outbox(&relay.url(), dir.path());
    assert_eq!(
        restarted.send(&email("hello")).unwrap(),
        SendOutcome::Replayed
    );
    assert_eq!(relay.received().len(), 1);
}

#[test]
fn same_id_with_another_body_is_a_conflict_and_nothing_is_delivered() {
    let relay = FakeRelay::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(&relay.url(), dir.path());
    assert_eq!(out.send(&email("hello")).unwrap(), SendOutcome::Queued);
    assert_eq!(out.send(&email("other")).unwrap(), SendOutcome::Conflict);
    let got = relay.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body().trim_end(), "hello");
}

#[test]
fn relay_down_is_an_error_the_journal_is_withdrawn_and_a_retry_delivers_once() {
    let dir = tempfile::tempdir().unwrap();
    let down = outbox(&dead_port_url(), dir.path());
    let err = down.send(&email("hello")).unwrap_err();
    assert!(
        matches!(
            smtp_error(&err),
            Some(SmtpError::NotDelivered {
                stage: "connecting",
                ..
            })
        ),
        "{err}"
    );
    assert!(down.journal().messages(Channel::Email).unwrap().is_empty());
    let relay = FakeRelay::start(Mode::Accept);
    let up = outbox(&relay.url(), dir.path());
    assert_eq!(up.send(&email("hello")).unwrap(), SendOutcome::Queued);
    assert_eq!(up.send(&email("hello")).unwrap(), SendOutcome::Replayed);
    assert_eq!(relay.received().len(), 1);
}

#[test]
fn a_refused_recipient_is_withdrawn_and_can_be_retried() {
    let relay = FakeRelay::start(Mode::RejectRecipient {
        delay: Duration::ZERO,
    });
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(&relay.url(), dir.path());
    let err = out.send(&email("hello")).unwrap_err();
    match smtp_error(&err) {
        Some(SmtpError::NotDelivered { stage, reason, .. }) => {
            assert_eq!(*stage, "RCPT TO");
            assert!(reason.contains("550"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(out.journal().messages(Channel::Email).unwrap().is_empty());
    relay.set_mode(Mode::Accept);
    assert_eq!(out.send(&email("hello")).unwrap(), SendOutcome::Queued);
    assert_eq!(relay.received().len(), 1);
}

#[test]
fn an_unconfirmed_delivery_stays_journaled_and_is_never_resent() {
    // The relay read the whole message but its answer never came: it may have queued it.
    let relay = FakeRelay::start(Mode::SilentAfterData);
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(&relay.url(), dir.path());
    let err = out.send(&email("hello")).unwrap_err();
    assert!(
        matches!(smtp_error(&err), Some(SmtpError::Unconfirmed { .. })),
        "{err}"
    );
    assert_eq!(out.journal().messages(Channel::Email).unwrap().len(), 1);
    relay.set_mode(Mode::Accept);
    assert_eq!(out.send(&email("hello")).unwrap(), SendOutcome::Replayed);
    assert_eq!(relay.received().len(), 1, "never twice");
}

#[test]
fn a_concurrent_retry_waits_for_the_first_attempt_instead_of_replaying_it() {
    // While the first send waits for the relay's refusal, its journal entry exists; a
    // concurrent retry must not read it as "already sent".
    let relay = FakeRelay::start(Mode::RejectRecipient {
        delay: Duration::from_millis(300),
    });
    let dir = tempfile::tempdir().unwrap();
    let out = Arc::new(outbox(&relay.url(), dir.path()));
    let first = {
        let out = out.clone();
        std::thread::spawn(move || out.send(&email("hello")))
    };
    std::thread::sleep(Duration::from_millis(100));
    let second = out.send(&email("hello"));
    let first = first.join().unwrap();
    for r in [&first, &second] {
        assert!(
            matches!(
                r.as_ref().map_err(smtp_error),
                Err(Some(SmtpError::NotDelivered { .. }))
            ),
            "{r:?}"
        );
    }
    assert!(out.journal().messages(Channel::Email).unwrap().is_empty());
}

#[test]
fn sms_goes_to_the_fallback_and_never_to_the_relay() {
    let relay = FakeRelay::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let fallback = DirOutbox::new(&dir.path().join("sms-outbox"));
    let out = SmtpOutbox::new(
        &config(&relay.url()),
        DirOutbox::new(&dir.path().join("journal")),
        Box::new(fallback.clone()),
    )
    .unwrap();
    let sms = OutboundMessage {
        message_id: OutboundMessage::id_for("cust-1", Channel::Sms, "s1"),
        channel: Channel::Sms,
        to: "+1 (555) 010-2030".into(),
        subject: None,
        body: "Hi Jane, refund rf_9 is on its way.".into(),
        ..email("")
    };
    assert_eq!(out.send(&sms).unwrap(), SendOutcome::Queued);
    assert_eq!(out.send(&sms).unwrap(), SendOutcome::Replayed);
    assert_eq!(fallback.messages(Channel::Sms).unwrap(), vec![sms]);
    assert!(relay.received().is_empty());
    assert!(out.journal().messages(Channel::Sms).unwrap().is_empty());
}

#[test]
fn attack_subject_line_break_cannot_add_a_recipient_or_header() {
    let relay = FakeRelay::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(&relay.url(), dir.path());
    let mut m = email("hello");
    m.subject = Some("Hi\r\nBcc: attacker@evil.example\r\n\r\nforged body".into());
    assert_eq!(out.send(&m).unwrap(), SendOutcome::Queued);
    let got = relay.received();
    assert_eq!(got[0].rcpt_to, vec![format!("<{TO}>")]);
    assert_eq!(got[0].header("Bcc"), None);
    assert_eq!(got[0].body().trim_end(), "hello");
}

#[test]
fn attack_recipient_with_extra_addresses_is_refused_before_anything_is_sent() {
    let relay = FakeRelay::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let out = outbox(&relay.url(), dir.path());
    for to in [
        "jane@example.com, attacker@evil.example",
        "Jane <jane@example.com>",
        "jane@example.com\r\nBcc: attacker@evil.example",
        "not an address",
    ] {
        let mut m = email("hello");
        m.to = to.into();
        let err = out.send(&m).unwrap_err();
        assert!(
            matches!(smtp_error(&err), Some(SmtpError::Unsendable { .. })),
            "{to}: {err}"
        );
        // The address is not echoed into the error (it goes to host logs).
        assert!(!err.to_string().contains("evil"), "{err}");
    }
    assert!(relay.received().is_empty());
    assert!(out.journal().messages(Channel::Email).unwrap().is_empty());
}

#[test]
fn attack_relay_password_never_shows_in_debug_or_errors() {
    let url = format!("smtps://mailer:{PASSWORD}@127.0.0.1:1");
    let c = SmtpConfig::new(&url, FROM);
    assert!(!format!("{c:?}").contains(PASSWORD), "{c:?}");
    let dir = tempfile::tempdir().unwrap();
    let out = SmtpOutbox::new(
        &c,
        DirOutbox::new(dir.path()),
        Box::new(DirOutbox::new(dir.path())),
    )
    .unwrap();
    assert!(!format!("{out:?}").contains(PASSWORD), "{out:?}");
    // Errors about a bad URL or a bad sender do not quote the URL.
    for bad in [
        SmtpConfig::new(format!("smtp://mailer:{PASSWORD}@relay.example"), FROM),
        SmtpConfig::new(format!("ftp://mailer:{PASSWORD}@relay.example"), FROM),
        SmtpConfig::new(
            format!("smtps://mailer:{PASSWORD}@relay.example:99999"),
            FROM,
        ),
        SmtpConfig::new(format!("smtps://mailer:{PASSWORD}@/x"), FROM),
        SmtpConfig::new(&url, "not a mailbox"),
    ] {
        let err = SmtpOutbox::new(
            &bad,
            DirOutbox::new(dir.path()),
            Box::new(DirOutbox::new(dir.path())),
        )
        .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(PASSWORD), "{shown}");
    }
}

#[test]
fn bad_configurations_say_which_setting_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let check = |c: SmtpConfig| {
        SmtpOutbox::new(
            &c,
            DirOutbox::new(dir.path()),
            Box::new(DirOutbox::new(dir.path())),
        )
        .unwrap_err()
    };
    let cases = [
        (SmtpConfig::new("relay.example:25", FROM), "url", "scheme"),
        (
            SmtpConfig::new("http://relay.example", FROM),
            "url",
            "scheme",
        ),
        (
            SmtpConfig::new("smtp://relay.example?tls=maybe", FROM),
            "url",
            "`tls` must be",
        ),
        (
            SmtpConfig::new("smtp://relay.example?x=1", FROM),
            "url",
            "query",
        ),
        (
            SmtpConfig::new("smtps://relay.example?tls=required", FROM),
            "url",
            "`tls` applies",
        ),
        (
            SmtpConfig::new("smtp://u:p@relay.example", FROM),
            "url",
            "only sent over TLS",
        ),
        (
            SmtpConfig::new("smtp://u:p@relay.example?tls=opportunistic", FROM),
            "url",
            "only sent over TLS",
        ),
        (
            SmtpConfig::new("smtp://relay.example", "support"),
            "from",
            "not a mailbox",
        ),
        (
            SmtpConfig {
                timeout: Duration::ZERO,
                ..SmtpConfig::new("smtp://relay.example", FROM)
            },
            "timeout",
            "more than zero",
        ),
    ];
    for (config, want_setting, want_reason) in cases {
        match check(config.clone()) {
            SmtpError::Config { setting, reason } => {
                assert_eq!(setting, want_setting, "{config:?}");
                assert!(reason.contains(want_reason), "{config:?}: {reason}");
            }
            other => panic!("{config:?}: {other}"),
        }
    }
    // The accepted forms.
    for url in [
        "smtp://127.0.0.1:2525",
        "smtp://relay.example?tls=required",
        "smtp://relay.example:587/me.example?tls=opportunistic",
        "smtps://user%40acme.example:p%40ss@relay.example",
        "smtp://user:pass@relay.example?tls=required",
    ] {
        SmtpOutbox::new(
            &SmtpConfig::new(url, FROM),
            DirOutbox::new(dir.path()),
            Box::new(DirOutbox::new(dir.path())),
        )
        .unwrap();
    }
}

#[test]
fn from_env_is_none_without_a_url_and_checks_what_is_set() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
        }
    };
    assert!(SmtpConfig::from_lookup(env(&[])).unwrap().is_none());
    assert!(SmtpConfig::from_lookup(env(&[(FROM_VAR, FROM)]))
        .unwrap()
        .is_none());
    let c = SmtpConfig::from_lookup(env(&[(URL_VAR, "smtp://127.0.0.1:2525"), (FROM_VAR, FROM)]))
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.url.as_str(), c.from.as_str()),
        ("smtp://127.0.0.1:2525", FROM)
    );
    let missing_from = SmtpConfig::from_lookup(env(&[(URL_VAR, "smtp://127.0.0.1:2525")]));
    assert!(
        matches!(missing_from, Err(SmtpError::Config { setting, .. }) if setting == FROM_VAR),
        "{missing_from:?}"
    );
    let bad_url = SmtpConfig::from_lookup(env(&[(URL_VAR, "smtp://"), (FROM_VAR, FROM)]));
    assert!(
        matches!(bad_url, Err(SmtpError::Config { setting, .. }) if setting == URL_VAR),
        "{bad_url:?}"
    );
}
