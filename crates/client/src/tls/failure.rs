//! Why a handshake failed, in words a user can act on: the CA that is not trusted, the name the
//! certificate does not carry, a server that answered plain HTTP, a certificate the node wanted.

use std::io::{self, ErrorKind};

use rustls::{AlertDescription, CertificateError, Error};

use super::CACERT_ENV;

/// The reason of a failed handshake; `first` holds the first bytes the server sent.
pub fn explain(e: &io::Error, first: &[u8]) -> String {
    if first.starts_with(b"HTTP/") {
        return "the server answered plain HTTP, not TLS: use http:// for this node (or give it tls: in its config)".to_string();
    }
    // rustls' own errors come back through std::io as InvalidData with the rustls error inside.
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
        return rustls_reason(inner);
    }
    match e.kind() {
        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe => {
            "the server closed the connection during the handshake (does it speak TLS on this port?)"
                .to_string()
        }
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            "no handshake answer in time (does the server speak TLS on this port?)".to_string()
        }
        _ => e.to_string(),
    }
}

fn rustls_reason(e: &Error) -> String {
    match e {
        Error::InvalidMessage(_) => {
            "the server does not speak TLS (not a TLS record): use http:// for this node?"
                .to_string()
        }
        Error::InvalidCertificate(c) => certificate_reason(c),
        Error::AlertReceived(a) => alert_reason(*a),
        Error::PeerIncompatible(_) => {
            "no TLS version or cipher suite in common with the server".to_string()
        }
        other => other.to_string(),
    }
}

fn certificate_reason(c: &CertificateError) -> String {
    use CertificateError as C;
    let what = match c {
        C::UnknownIssuer => {
            return format!(
                "the server's certificate is not signed by a trusted CA (unknown issuer): give the cluster's CA with --cacert FILE or ${CACERT_ENV}"
            )
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            return "the server's certificate is not valid for this host name (name mismatch): connect by a name or IP address the certificate lists".to_string()
        }
        C::Expired | C::ExpiredContext { .. } => "has expired",
        C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet (check the clocks)",
        C::Revoked => "is revoked",
        C::BadSignature
        | C::UnsupportedSignatureAlgorithmContext { .. }
        | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => "is badly signed",
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            "is not valid for a TLS server (extended key usage)"
        }
        C::BadEncoding => "is malformed",
        _ => "was rejected",
    };
    format!("the server's certificate {what}")
}

fn alert_reason(a: AlertDescription) -> String {
    use AlertDescription as A;
    match a {
        A::CertificateRequired | A::HandshakeFailure | A::BadCertificate => format!(
            "the server refused the handshake ({a:?}): does it want a client certificate (--tls-cert and --tls-key)?"
        ),
        A::UnknownCA => format!(
            "the server refused the handshake ({a:?}): it does not trust the CA of the client certificate (--tls-cert)"
        ),
        _ => format!("the server refused the handshake ({a:?})"),
    }
}
