//! What can go wrong with TLS: loading the PEM files ([`TlsError`], at start and on SIGHUP, names
//! the file and the problem) and one handshake ([`Failure`], a small `Copy` enum counted and shown
//! per connection or peer).

use std::io::ErrorKind;

use rustls::{AlertDescription, CertificateError};

/// Why the `tls:` files could not be turned into a working configuration (start-up refuses; a
/// reload keeps the previous configuration). The text names the config key and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

impl TlsError {
    /// `tls.<key> <file>: <what>`.
    pub(super) fn file(key: &str, file: &str, what: impl std::fmt::Display) -> TlsError {
        TlsError(format!("tls.{key} {file}: {what}"))
    }
}

/// Why one TLS handshake failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The other side closed the connection before the handshake finished.
    Closed,
    /// The socket failed.
    Io(ErrorKind),
    /// The bytes are not TLS (plain HTTP sent to a TLS port, or the reverse).
    NotTls,
    /// The certificate presented is not acceptable (`what` says why).
    Certificate(&'static str),
    /// A client certificate was required and none was presented.
    NoCertificate,
    /// The other side refused the handshake with this alert (it did not trust our certificate,
    /// or shares no protocol version or cipher suite with us).
    Alert(AlertDescription),
    /// No protocol version, cipher suite or ALPN protocol in common.
    Incompatible,
    /// The peer's name (from its configured address) is not a valid DNS name or IP address.
    BadName,
    /// Any other protocol violation.
    Protocol,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Closed => f.write_str("TLS handshake: connection closed by the other side"),
            Failure::Io(k) => write!(f, "TLS handshake: {}", k.to_string().to_lowercase()),
            Failure::NotTls => f.write_str("TLS handshake: the other side does not speak TLS"),
            Failure::Certificate(what) => write!(f, "TLS handshake: certificate {what}"),
            Failure::NoCertificate => f.write_str("TLS handshake: no certificate presented"),
            Failure::Alert(a) => write!(f, "TLS handshake refused by the other side ({a:?})"),
            Failure::Incompatible => {
                f.write_str("TLS handshake: no protocol version or cipher suite in common")
            }
            Failure::BadName => {
                f.write_str("TLS: the peer's address is not a valid DNS name or IP address")
            }
            Failure::Protocol => f.write_str("TLS handshake: protocol violation"),
        }
    }
}

impl From<&rustls::Error> for Failure {
    fn from(e: &rustls::Error) -> Failure {
        use rustls::Error as E;
        match e {
            E::InvalidMessage(_) => Failure::NotTls,
            E::InvalidCertificate(c) => Failure::Certificate(certificate_problem(c)),
            E::NoCertificatesPresented => Failure::NoCertificate,
            E::AlertReceived(a) => Failure::Alert(*a),
            E::PeerIncompatible(_) | E::NoApplicationProtocol => Failure::Incompatible,
            _ => Failure::Protocol,
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        // rustls' own errors come back through std::io as InvalidData with the rustls error inside.
        if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return Failure::from(inner);
        }
        match e.kind() {
            ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
                Failure::Closed
            }
            // A blocking socket's read timeout (the prober's handshakes).
            ErrorKind::WouldBlock | ErrorKind::TimedOut => Failure::Io(ErrorKind::TimedOut),
            k => Failure::Io(k),
        }
    }
}

fn certificate_problem(c: &CertificateError) -> &'static str {
    use CertificateError as C;
    match c {
        C::UnknownIssuer => "not signed by a CA in tls.ca_file",
        C::Expired | C::ExpiredContext { .. } => "expired",
        C::NotValidYet | C::NotValidYetContext { .. } => "not valid yet",
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "not valid for the name the peer was reached by"
        }
        C::Revoked => "revoked",
        C::BadSignature
        | C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => "badly signed",
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "not valid for this use (extended key usage)"
        }
        C::BadEncoding => "malformed",
        _ => "rejected",
    }
}
