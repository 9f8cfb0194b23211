//! SMTP delivery for email: [`SmtpOutbox`] sends each rendered email to a relay at most once
//! per message id, journaling it in a [`DirOutbox`] before it talks to the relay; SMS is not
//! SMTP and goes to a fallback [`Outbox`] unchanged.
//!
//! # Never twice
//!
//! A send first publishes the message in the journal (`DirOutbox::send`: a hard link that
//! fails if the id exists, then an fsync). Only the caller whose publish answers `Queued`
//! talks to the relay; a replay answers `Replayed` and the same id with other content answers
//! `Conflict`, both without any SMTP. Then:
//!
//! - The relay accepted the message (`250` after the end of the data): `Queued`.
//! - The relay certainly did not take it (no connection, TLS or authentication failed, a
//!   negative reply to any command, including to the end of the data): the journal entry is
//!   withdrawn and fsynced away, and the error is returned, so a retry sends it again.
//! - The whole message was written but the relay's answer never came (timeout, reset): the
//!   relay may have queued it. The entry stays and [`SmtpError::Unconfirmed`] is returned; a
//!   retry answers `Replayed` and sends nothing.
//! - The process dies between the publish and the relay's answer: the entry stays, and a
//!   retry answers `Replayed` whether or not the relay got the message.
//!
//! So delivery is at-most-once: a message may be lost in those two windows (the journal entry
//! names it, for an operator to check against the relay's log), never delivered twice. The
//! `Message-ID` header is derived from the message id (`<msg-…@silo>`), so a downstream that
//! deduplicates on it also drops a copy that some other path might produce.
//!
//! Within one process, sends of one id are serialised: a second send waits for the first to
//! finish instead of reading its not-yet-confirmed journal entry as `Replayed` (the first may
//! still fail and withdraw it). Two processes sharing one journal directory do not wait for
//! each other; the hard link still keeps them from both delivering.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{SmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::Error as SmtpTransportError;
use lettre::{Address, Message};

use super::outbox::{Channel, DirOutbox, OutboundMessage, Outbox, SendOutcome};
use super::ConnectorError;

/// Default bound on connecting and on each read and write of the SMTP conversation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The environment variable with the relay URL; unset means no SMTP relay.
pub const URL_VAR: &str = "SILO_SMTP_URL";
/// The environment variable with the `From` address, required when [`URL_VAR`] is set.
pub const FROM_VAR: &str = "SILO_SMTP_FROM";

/// The domain of every `Message-ID` this connector sets.
const MESSAGE_ID_DOMAIN: &str = "silo";
/// Longest message id accepted into a header and a file name.
const MAX_MESSAGE_ID_LEN: usize = 128;
/// Longest relay reply text kept in an error.
const MAX_REPLY_LEN: usize = 200;

/// The SMTP connector failed. Shown to the host, never to the agent. Never holds the relay
/// URL (it may carry a password), the recipient's address or the message.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// The configuration is unusable.
    #[error("smtp configuration: {setting}: {reason}")]
    Config {
        /// Which setting (a field of [`SmtpConfig`] or an environment variable).
        setting: &'static str,
        /// What is wrong and what to do.
        reason: String,
    },
    /// This message cannot go out over SMTP; nothing was journaled or sent.
    #[error("smtp: message `{message_id}` cannot be sent: {reason}; nothing was sent")]
    Unsendable {
        /// The message id.
        message_id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The relay certainly did not take the message; its journal entry was withdrawn, so a
    /// retry sends it.
    #[error(
        "smtp: the relay did not take message `{message_id}` ({stage}): {reason}; \
         nothing was delivered and a retry sends it"
    )]
    NotDelivered {
        /// The message id.
        message_id: String,
        /// What the connector was doing.
        stage: &'static str,
        /// The relay's or the transport's reason.
        reason: String,
    },
    /// The whole message went to the relay but its answer never came; the relay may have
    /// queued it, so the journal entry stays and a retry does not send it again.
    #[error(
        "smtp: the relay did not confirm message `{message_id}`: {reason}; it may have been \
         delivered, so it stays journaled and a retry will not send it again"
    )]
    Unconfirmed {
        /// The message id.
        message_id: String,
        /// The transport's reason.
        reason: String,
    },
    /// The relay did not take the message and its journal entry could not be withdrawn, so a
    /// retry would wrongly answer `Replayed`.
    #[error(
        "smtp: the relay did not take message `{message_id}` ({delivery}) and its journal \
         entry `{}` could not be removed ({removal}); remove it by hand before retrying",
        journal.display()
    )]
    NotWithdrawn {
        /// The message id.
        message_id: String,
        /// The journal entry left behind.
        journal: PathBuf,
        /// Why delivery failed.
        delivery: String,
        /// Why removing the entry failed.
        removal: std::io::Error,
    },
}

/// Where and how to reach the SMTP relay.
#[derive(Clone)]
pub struct SmtpConfig {
    /// The relay, as `scheme://[user:password@]host[:port][/ehlo-name][?tls=…]`:
    /// `smtps://` is TLS from the first byte (port 465); `smtp://…?tls=required` is STARTTLS
    /// that must succeed (port 587); `smtp://…?tls=opportunistic` is STARTTLS when offered
    /// (587; open to a man in the middle); plain `smtp://` is unencrypted (port 25; for a
    /// relay on the same host). A user name and password (percent-encoded) need `smtps://`
    /// or `tls=required`. Certificates are checked against the webpki roots.
    pub url: String,
    /// The `From` mailbox, e.g. `Acme Support <support@acme.example>`; also the envelope
    /// sender.
    pub from: String,
    /// Bound on connecting and on each read and write of the conversation.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// A configuration for `url` sending as `from`, with [`DEFAULT_TIMEOUT`].
    pub fn new(url: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            from: from.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The configuration in [`URL_VAR`] and [`FROM_VAR`], checked; `None` when [`URL_VAR`]
    /// is unset.
    pub fn from_env() -> Result<Option<Self>, SmtpError> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// [`SmtpConfig::from_env`] with the variables read through `lookup` (for tests and for
    /// hosts that keep settings elsewhere).
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Option<Self>, SmtpError> {
        let Some(url) = lookup(URL_VAR) else {
            return Ok(None);
        };
        let url = url.into_string().map_err(|_| SmtpError::Config {
            setting: URL_VAR,
            reason: "not UTF-8".into(),
        })?;
        let from = lookup(FROM_VAR)
            .ok_or_else(|| SmtpError::Config {
                setting: FROM_VAR,
                reason: format!(
                    "unset while `{URL_VAR}` is set: set it to the sender, e.g. \
                     `Acme Support <support@acme.example>`"
                ),
            })?
            .into_string()
            .map_err(|_| SmtpError::Config {
                setting: FROM_VAR,
                reason: "not UTF-8".into(),
            })?;
        let config = Self::new(url, from);
        config.check(URL_VAR, FROM_VAR)?;
        Ok(Some(config))
    }

    /// The relay and the sender, or what is wrong with them, naming the settings as given.
    fn check(
        &self,
        url_setting: &'static str,
        from_setting: &'static str,
    ) -> Result<(Relay, Mailbox), SmtpError> {
        if self.timeout.is_zero() {
            return Err(SmtpError::Config {
                setting: "timeout",
                reason: "must be more than zero".into(),
            });
        }
        let relay = Relay::parse(&self.url, self.timeout, url_setting)?;
        let from: Mailbox = self.from.parse().map_err(|e| SmtpError::Config {
            setting: from_setting,
            reason: format!(
                "`{}` is not a mailbox ({e}): use `name@domain` or `Name <name@domain>`",
                self.from
            ),
        })?;
        Ok((relay, from))
    }
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &redacted_url(&self.url))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `url` with everything before its last `@` after the scheme replaced, so neither a user
/// name nor a password shows, even in a malformed URL.
fn redacted_url(url: &str) -> String {
    match url.rfind('@') {
        None => url.to_owned(),
        Some(at) => {
            let scheme_end = url.find("://").map_or(0, |i| i + 3);
            let keep = if scheme_end <= at { scheme_end } else { 0 };
            format!("{}<redacted>{}", &url[..keep], &url[at..])
        }
    }
}

/// How the connection to the relay is protected.
enum Security {
    /// No TLS.
    Plain,
    /// STARTTLS when the relay offers it.
    Opportunistic(TlsParameters),
    /// STARTTLS, or fail.
    Required(TlsParameters),
    /// TLS from the first byte.
    Wrapper(TlsParameters),
}

impl Security {
    fn name(&self) -> &'static str {
        match self {
            Security::Plain => "none",
            Security::Opportunistic(_) => "opportunistic STARTTLS",
            Security::Required(_) => "required STARTTLS",
            Security::Wrapper(_) => "TLS",
        }
    }
}

/// A parsed relay URL.
struct Relay {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
}

impl Relay {
    fn parse(raw: &str, timeout: Duration, setting: &'static str) -> Result<Self, SmtpError> {
        // The URL is never echoed: it may hold a password.
        let bad = |reason: &str| SmtpError::Config {
            setting,
            reason: reason.to_owned(),
        };
        let url = url::Url::parse(raw).map_err(|e| SmtpError::Config {
            setting,
            reason: format!("not a URL ({e}); expected e.g. `smtps://user:password@host`"),
        })?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(bad("the scheme must be `smtp` or `smtps`"));
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(bad("no host")),
        };
        if url.fragment().is_some() {
            return Err(bad("a fragment is not allowed"));
        }
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), tls.is_none()) {
                ("tls", true) => tls = Some(value.into_owned()),
                ("tls", false) => return Err(bad("`tls` is given twice")),
                _ => return Err(bad("the only query parameter is `tls`")),
            }
        }
        let tls_params = || {
            TlsParameters::new(host.clone()).map_err(|e| SmtpError::Config {
                setting,
                reason: format!("cannot set up TLS: {e}"),
            })
        };
        let (security, default_port) = match (url.scheme(), tls.as_deref()) {
            ("smtps", None) => (Security::Wrapper(tls_params()?), 465),
            ("smtps", Some(_)) => {
                return Err(bad(
                    "`tls` applies to `smtp://` only (`smtps://` is always TLS)",
                ))
            }
            ("smtp", None) => (Security::Plain, 25),
            ("smtp", Some("required")) => (Security::Required(tls_params()?), 587),
            ("smtp", Some("opportunistic")) => (Security::Opportunistic(tls_params()?), 587),
            ("smtp", Some(_)) => return Err(bad("`tls` must be `required` or `opportunistic`")),
            _ => return Err(bad("the scheme must be `smtp` or `smtps`")),
        };
        let port = url.port().unwrap_or(default_port);
        let hello = match url.path().trim_matches('/') {
            "" => ClientId::default(),
            name if is_host_name(name) => ClientId::Domain(name.to_owned()),
            _ => return Err(bad("the path (the EHLO name) must be a host name")),
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (_, None) => return Err(bad("a user name without a password")),
            (user, Some(password)) => {
                if matches!(security, Security::Plain | Security::Opportunistic(_)) {
                    return Err(bad(
                        "a password is only sent over TLS: use `smtps://` or `?tls=required`",
                    ));
                }
                let decode = |s: &str, what: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .map(|s| s.into_owned())
                        .map_err(|_| bad(&format!("the {what} is not UTF-8 once decoded")))
                };
                let user = decode(user, "user name")?;
                let password = decode(password, "password")?;
                Some(Credentials::new(user, password))
            }
        };
        Ok(Self {
            host,
            port,
            security,
            credentials,
            hello,
            timeout,
        })
    }

    /// Sends `email` from `from` to `to`; tells a certain failure from an unconfirmed one.
    fn deliver(&self, message_id: &str, from: &Address, to: &Address, email: &[u8]) -> Delivery {
        let wrapper = match &self.security {
            Security::Wrapper(p) => Some(p),
            _ => None,
        };
        let mut conn = match SmtpConnection::connect(
            (self.host.as_str(), self.port),
            Some(self.timeout),
            &self.hello,
            wrapper,
            None,
        ) {
            Ok(c) => c,
            Err(e) => return Delivery::NotDelivered("connecting", reason(&e)),
        };
        let outcome = self.converse(&mut conn, message_id, from, to, email);
        // QUIT if the conversation is still sound, then close.
        conn.abort();
        outcome
    }

    fn converse(
        &self,
        conn: &mut SmtpConnection,
        message_id: &str,
        from: &Address,
        to: &Address,
        email: &[u8],
    ) -> Delivery {
        if let Err((stage, why)) = self.open_data(conn, from, to, email) {
            return Delivery::NotDelivered(stage, why);
        }
        match conn.message(email) {
            Ok(_) => Delivery::Accepted,
            // A negative reply to the end of the data: the relay refused the message.
            Err(e) if e.status().is_some() => Delivery::NotDelivered("end of data", reason(&e)),
            Err(e) => {
                tracing::warn!(message_id, "smtp relay did not confirm a message");
                Delivery::Unconfirmed(reason(&e))
            }
        }
    }

    /// Everything before the message itself: STARTTLS, AUTH, MAIL FROM, RCPT TO, DATA. A
    /// failure here leaves nothing at the relay: at which stage, and why.
    fn open_data(
        &self,
        conn: &mut SmtpConnection,
        from: &Address,
        to: &Address,
        email: &[u8],
    ) -> Result<(), (&'static str, String)> {
        let step = |stage: &'static str| move |e: SmtpTransportError| (stage, reason(&e));
        match &self.security {
            Security::Opportunistic(p) if conn.can_starttls() => conn
                .starttls(p, &self.hello)
                .map_err(step("starting TLS"))?,
            Security::Required(p) => conn
                .starttls(p, &self.hello)
                .map_err(step("starting TLS"))?,
            _ => {}
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).map_err(|e| {
                // The relay's text is not kept: some echo what they were sent.
                let why = match e.status() {
                    Some(code) => format!("the relay refused the credentials ({code})"),
                    None => reason(&e),
                };
                ("authenticating", why)
            })?;
        }
        let mut params = Vec::new();
        if !AsRef::<str>::as_ref(from).is_ascii() || !AsRef::<str>::as_ref(to).is_ascii() {
            if !conn.server_info().supports_feature(Extension::SmtpUtfEight) {
                return Err((
                    "checking the relay's extensions",
                    "an address is not ASCII and the relay lacks SMTPUTF8".into(),
                ));
            }
            params.push(MailParameter::SmtpUtfEight);
        }
        if !email.is_ascii() {
            if !conn.server_info().supports_feature(Extension::EightBitMime) {
                return Err((
                    "checking the relay's extensions",
                    "the message is not ASCII and the relay lacks 8BITMIME".into(),
                ));
            }
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        conn.command(Mail::new(Some(from.clone()), params))
            .map_err(step("MAIL FROM"))?;
        conn.command(Rcpt::new(to.clone(), Vec::new()))
            .map_err(step("RCPT TO"))?;
        conn.command(Data).map_err(step("DATA"))?;
        Ok(())
    }
}

/// What one delivery attempt did.
enum Delivery {
    /// The relay answered `250` to the end of the data.
    Accepted,
    /// The relay certainly did not take the message: at which stage, and why.
    NotDelivered(&'static str, String),
    /// The message was written but the relay's answer never came.
    Unconfirmed(String),
}

/// A transport error as kept in [`SmtpError`]: lettre's text (the reply code and the relay's
/// words), cut short.
fn reason(e: &SmtpTransportError) -> String {
    let mut text = e.to_string().replace(['\r', '\n'], " ");
    if let Some((cut, _)) = text.char_indices().nth(MAX_REPLY_LEN) {
        text.truncate(cut);
        text.push('…');
    }
    text
}

fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The `Message-ID` header value for `message_id`: `<msg-…@silo>`.
pub fn message_id_header(message_id: &str) -> String {
    format!("<{message_id}@{MESSAGE_ID_DOMAIN}>")
}

/// The [`SmtpError`] inside a [`ConnectorError`] that [`SmtpOutbox`] returned, if any.
pub fn smtp_error(error: &ConnectorError) -> Option<&SmtpError> {
    match error {
        ConnectorError::Io { source, .. } => source.get_ref()?.downcast_ref::<SmtpError>(),
        _ => None,
    }
}

/// [`Outbox`] that delivers email to an SMTP relay, journaled in a [`DirOutbox`] so that no
/// message id is ever delivered twice (see the module documentation), and hands SMS to a
/// fallback outbox.
///
/// The journal keeps the `DirOutbox` layout (`<dir>/email/<message_id>.json`), so with the
/// embedded outbox directory as both journal and fallback, the host sees every sent email and
/// SMS where it always has.
pub struct SmtpOutbox {
    relay: Relay,
    from: Mailbox,
    journal: DirOutbox,
    fallback: Box<dyn Outbox>,
    in_flight: InFlight,
}

impl std::fmt::Debug for SmtpOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpOutbox")
            .field("host", &self.relay.host)
            .field("port", &self.relay.port)
            .field("tls", &self.relay.security.name())
            .field("authenticated", &self.relay.credentials.is_some())
            .field("from", &self.from.to_string())
            .field("journal", &self.journal.dir())
            .finish_non_exhaustive()
    }
}

impl SmtpOutbox {
    /// An outbox sending email through the relay in `config`, journaling it in `journal`,
    /// and handing SMS to `fallback`. Checks the URL and the `From` address; does not
    /// connect.
    pub fn new(
        config: &SmtpConfig,
        journal: DirOutbox,
        fallback: Box<dyn Outbox>,
    ) -> Result<Self, SmtpError> {
        let (relay, from) = config.check("url", "from")?;
        Ok(Self {
            relay,
            from,
            journal,
            fallback,
            in_flight: InFlight::default(),
        })
    }

    /// The journal of email sends.
    pub fn journal(&self) -> &DirOutbox {
        &self.journal
    }

    fn journal_entry(&self, message_id: &str) -> PathBuf {
        self.journal
            .dir()
            .join(Channel::Email.as_str())
            .join(format!("{message_id}.json"))
    }

    fn send_email(&self, message: &OutboundMessage) -> Result<SendOutcome, ConnectorError> {
        let entry = self.journal_entry(&message.message_id);
        let (to, email) = self.render(message).map_err(|e| wrap(&entry, e))?;
        let _claim = self.in_flight.claim(&message.message_id);
        match self.journal.send(message)? {
            SendOutcome::Queued => {}
            replayed_or_conflict => return Ok(replayed_or_conflict),
        }
        let message_id = message.message_id.clone();
        match self
            .relay
            .deliver(&message_id, &self.from.email, &to, &email)
        {
            Delivery::Accepted => Ok(SendOutcome::Queued),
            Delivery::Unconfirmed(reason) => {
                Err(wrap(&entry, SmtpError::Unconfirmed { message_id, reason }))
            }
            Delivery::NotDelivered(stage, reason) => {
                let error = match withdraw(&entry) {
                    Ok(()) => SmtpError::NotDelivered {
                        message_id,
                        stage,
                        reason,
                    },
                    Err(removal) => SmtpError::NotWithdrawn {
                        message_id,
                        journal: entry.clone(),
                        delivery: format!("{stage}: {reason}"),
                        removal,
                    },
                };
                Err(wrap(&entry, error))
            }
        }
    }

    /// The recipient and the message as sent, or why it cannot be sent.
    fn render(&self, message: &OutboundMessage) -> Result<(Address, Vec<u8>), SmtpError> {
        let unsendable = |reason: &str| SmtpError::Unsendable {
            message_id: message.message_id.clone(),
            reason: reason.to_owned(),
        };
        let id = &message.message_id;
        if id.is_empty()
            || id.len() > MAX_MESSAGE_ID_LEN
            || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(unsendable(
                "the message id must be 1 to 128 ASCII letters, digits or `-`",
            ));
        }
        // A bare address only: no display name, no list, nothing that could add a recipient.
        let to: Address = message
            .to
            .parse()
            .map_err(|_| unsendable("the recipient is not one plain email address"))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to.clone()))
            .message_id(Some(message_id_header(id)))
            .date(SystemTime::UNIX_EPOCH + Duration::from_secs(message.created_at));
        if let Some(subject) = &message.subject {
            // lettre encodes CR and LF (RFC 2047), so a subject cannot add a header.
            builder = builder.subject(subject.as_str());
        }
        let email = builder
            .header(ContentType::TEXT_PLAIN)
            .body(message.body.clone())
            .map_err(|e| unsendable(&format!("cannot build the message: {e}")))?;
        Ok((to, email.formatted()))
    }
}

impl Outbox for SmtpOutbox {
    fn send(&self, message: &OutboundMessage) -> Result<SendOutcome, ConnectorError> {
        match message.channel {
            Channel::Email => self.send_email(message),
            Channel::Sms => self.fallback.send(message),
        }
    }
}

/// `error` as a [`ConnectorError`] about the journal entry `entry`; [`smtp_error`] gets it
/// back.
fn wrap(entry: &Path, error: SmtpError) -> ConnectorError {
    let kind = match &error {
        SmtpError::Unsendable { .. } | SmtpError::Config { .. } => std::io::ErrorKind::InvalidInput,
        SmtpError::Unconfirmed { .. } => std::io::ErrorKind::TimedOut,
        SmtpError::NotDelivered { .. } | SmtpError::NotWithdrawn { .. } => {
            std::io::ErrorKind::Other
        }
    };
    ConnectorError::Io {
        path: entry.to_path_buf(),
        source: std::io::Error::new(kind, error),
    }
}

/// Removes the journal entry `entry` durably, so a retry publishes it afresh.
fn withdraw(entry: &Path) -> Result<(), std::io::Error> {
    match std::fs::remove_file(entry) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    match entry.parent() {
        Some(dir) => std::fs::File::open(dir).and_then(|d| d.sync_all()),
        None => Ok(()),
    }
}

/// The message ids being sent by this process.
#[derive(Default)]
struct InFlight {
    ids: Mutex<HashSet<String>>,
    done: Condvar,
}

impl InFlight {
    /// Waits until no other send of `id` is running in this process, then claims it until
    /// the claim drops.
    fn claim(&self, id: &str) -> Claim<'_> {
        // A poisoned lock only means another send panicked; the set is still consistent
        // (its claim's drop removed its id).
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        while ids.contains(id) {
            ids = self.done.wait(ids).unwrap_or_else(PoisonError::into_inner);
        }
        ids.insert(id.to_owned());
        Claim {
            in_flight: self,
            id: id.to_owned(),
        }
    }
}

struct Claim<'a> {
    in_flight: &'a InFlight,
    id: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut ids = self
            .in_flight
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ids.remove(&self.id);
        self.in_flight.done.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_user_and_password_even_when_malformed() {
        for (url, want) in [
            ("smtps://u:pw@host:465", "smtps://<redacted>@host:465"),
            ("smtp://u:p@ss@host", "smtp://<redacted>@host"),
            ("smtp://user:pa/ss@host", "smtp://<redacted>@host"),
            ("u:pw@host", "<redacted>@host"),
            ("smtp://host:25", "smtp://host:25"),
        ] {
            assert_eq!(redacted_url(url), want, "{url}");
        }
    }

    #[test]
    fn url_schemes_ports_and_tls() {
        let t = DEFAULT_TIMEOUT;
        let r = Relay::parse("smtp://127.0.0.1:2525", t, "url").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("127.0.0.1", 2525));
        assert!(matches!(r.security, Security::Plain));
        let r = Relay::parse("smtps://u:p%40w@mail.example.com", t, "url").unwrap();
        assert_eq!(r.port, 465);
        assert!(matches!(r.security, Security::Wrapper(_)));
        assert_eq!(
            r.credentials,
            Some(Credentials::new("u".into(), "p@w".into()))
        );
        let r = Relay::parse("smtp://mail.example.com?tls=required", t, "url").unwrap();
        assert_eq!(r.port, 587);
        assert!(matches!(r.security, Security::Required(_)));
        let r = Relay::parse(
            "smtp://mail.example.com/me.example?tls=opportunistic",
            t,
            "url",
        )
        .unwrap();
        assert!(matches!(r.security, Security::Opportunistic(_)));
        assert_eq!(r.hello, ClientId::Domain("me.example".into()));
        let r = Relay::parse("smtp://[::1]:25", t, "url").unwrap();
        assert_eq!(r.host, "::1");
    }

    #[test]
    fn password_with_plus_and_percent_decodes_exactly() {
        let r = Relay::parse("smtps://a%2Bb:x+y%25z@h", DEFAULT_TIMEOUT, "url").unwrap();
        assert_eq!(
            r.credentials,
            Some(Credentials::new("a+b".into(), "x+y%z".into()))
        );
    }
}
