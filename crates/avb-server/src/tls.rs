//! TLS set-up for `avb serve`: a given certificate, or a self-signed one for localhost.

use anyhow::Context;
use avb_core::config::Config;
use std::path::PathBuf;

/// Where TLS should listen and with which PEM certificate and key, if TLS is on.
pub struct TlsSetup {
    pub listen: String,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// The certificate file clients should trust (self-signed case).
    pub cert_path: PathBuf,
}

/// Reads or creates the certificate; `None` when TLS is off.
pub fn prepare(config: &Config) -> anyhow::Result<Option<TlsSetup>> {
    let s = &config.server;
    let listen = s
        .tls_listen
        .clone()
        .unwrap_or_else(|| "127.0.0.1:8443".to_string());
    if let (Some(cert), Some(key)) = (&s.tls_cert, &s.tls_key) {
        let cert_pem =
            std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
        let key_pem = std::fs::read(key).with_context(|| format!("reading {}", key.display()))?;
        return Ok(Some(TlsSetup {
            listen,
            cert_pem,
            key_pem,
            cert_path: cert.clone(),
        }));
    }
    if !s.tls_self_signed {
        return Ok(None);
    }
    let dir = s.data_dir.join("tls");
    let (cert_path, key_path) = (dir.join("self-signed.pem"), dir.join("self-signed.key"));
    if !cert_path.exists() || !key_path.exists() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let names = vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        let generated = rcgen::generate_simple_self_signed(names)
            .context("generating a self-signed certificate")?;
        std::fs::write(&cert_path, generated.cert.pem())
            .with_context(|| format!("writing {}", cert_path.display()))?;
        write_private(&key_path, generated.signing_key.serialize_pem().as_bytes())?;
    }
    Ok(Some(TlsSetup {
        listen,
        cert_pem: std::fs::read(&cert_path)?,
        key_pem: std::fs::read(&key_path)?,
        cert_path: std::fs::canonicalize(&cert_path).unwrap_or(cert_path),
    }))
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes)?;
    Ok(())
}
