//! Unit tests of `tls.rs`: the files checked at start, and the reasons given for failures.

use super::*;

#[test]
fn missing_or_lone_files_are_named() {
    let s = Settings {
        cacert: Some(PathBuf::from("/nonexistent/ca.pem")),
        ..Settings::default()
    };
    let e = load(&s).err().expect("missing CA file");
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    let s = Settings {
        cert: Some(PathBuf::from("/x.crt")),
        ..Settings::default()
    };
    assert!(load(&s).err().expect("cert alone").contains("--tls-key"));
    let s = Settings {
        key: Some(PathBuf::from("/x.key")),
        ..Settings::default()
    };
    assert!(load(&s).err().expect("key alone").contains("--tls-cert"));
    // Nothing asked: nothing read (the system store only on first use).
    assert!(load(&Settings::default()).is_ok());
}

#[test]
fn a_file_without_a_certificate_is_refused() {
    let p = std::env::temp_dir().join(format!("cc-tls-junk-{}.pem", std::process::id()));
    std::fs::write(&p, "hello\n").expect("write");
    let e = read_roots(&p).expect_err("no certificate");
    assert!(
        e.contains("no certificate") && e.contains("cc-tls-junk"),
        "{e}"
    );
    let _ = std::fs::remove_file(&p);
}

#[test]
fn reasons_say_what_to_do() {
    let io = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
    let unknown = explain(
        &io(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        )),
        &[],
    );
    assert!(
        unknown.contains("--cacert") && unknown.contains(CACERT_ENV),
        "{unknown}"
    );
    let name = explain(
        &io(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        )),
        &[],
    );
    assert!(name.contains("name mismatch"), "{name}");
    let wants_cert = explain(
        &io(rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired,
        )),
        &[],
    );
    assert!(wants_cert.contains("--tls-cert"), "{wants_cert}");
    // The server's first bytes decide over the rustls error they caused.
    let plain = explain(&io::ErrorKind::InvalidData.into(), b"HTTP/1.1");
    assert!(
        plain.contains("plain HTTP") && plain.contains("http://"),
        "{plain}"
    );
    let closed = explain(&io::ErrorKind::UnexpectedEof.into(), &[]);
    assert!(closed.contains("closed"), "{closed}");
}

use rustls::{AlertDescription, CertificateError};

#[test]
fn tls_records_are_recognised() {
    assert!(looks_like_tls(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]));
    assert!(looks_like_tls(&[0x16, 0x03, 0x01]));
    assert!(!looks_like_tls(b"HTTP/1.1 200 OK"));
    assert!(!looks_like_tls(&[0x15]));
}

#[test]
fn server_names_from_hosts() {
    assert!(matches!(
        server_name("127.0.0.1"),
        Ok(ServerName::IpAddress(_))
    ));
    assert!(matches!(server_name("[::1]"), Ok(ServerName::IpAddress(_))));
    assert!(matches!(
        server_name("node1.example"),
        Ok(ServerName::DnsName(_))
    ));
    assert!(server_name("bad name").is_err());
}
