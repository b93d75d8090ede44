//! TLS for PostgreSQL connections with libpq's meaning of `sslmode`:
//!
//! | sslmode | TLS | certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow` | only if the server refuses a plain connection | not verified |
//! | `prefer` (default) | if the server offers it | not verified |
//! | `require` | always | not verified; with `sslrootcert`, as `verify-ca` |
//! | `verify-ca` | always | signed by a CA of `sslrootcert` |
//! | `verify-full` | always | signed by a CA of `sslrootcert` and naming the host |
//!
//! "Not verified" still checks the handshake's signatures (the server holds the certificate's
//! key); it does not protect against an active man in the middle, exactly as libpq. Without
//! `sslrootcert` the CAs are libpq's `~/.postgresql/root.crt`; `sslrootcert=system` means the
//! system's trusted roots.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::database_url::{RootCert, SslMode, SslOptions};
use crate::error::{Error, Result};

/// The rustls connector for `ssl`. Fails (before any connection) when a certificate file is
/// missing or unreadable, or when verification is asked for without CA certificates.
pub(super) fn make_tls(ssl: &SslOptions) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::internal(format!("TLS: {e}")))?;
    let mode = ssl.effective_mode();
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable | SslMode::Allow | SslMode::Prefer | SslMode::Require => {
            Arc::new(Unverified {
                provider: provider.clone(),
                chain: None,
            })
        }
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = root_store(ssl.root_cert.as_ref(), mode)?;
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| Error::internal(format!("TLS: {e}")))?;
            if mode == SslMode::VerifyCa {
                Arc::new(Unverified {
                    provider: provider.clone(),
                    chain: Some(webpki),
                })
            } else {
                webpki
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &ssl.client_cert {
        Some((cert, key)) => {
            let chain = read_certificates(cert, "sslcert")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                Error::internal(format!(
                    "sslkey '{}': cannot read a PEM private key: {e}",
                    key.display()
                ))
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::internal(format!("sslcert/sslkey: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

fn read_certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| {
            Error::internal(format!(
                "{what} '{}': cannot read PEM certificates: {e}",
                path.display()
            ))
        })?;
    if certificates.is_empty() {
        return Err(Error::internal(format!(
            "{what} '{}' holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certificates)
}

/// The CAs to verify against.
fn root_store(root: Option<&RootCert>, mode: SslMode) -> Result<Arc<rustls::RootCertStore>> {
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(RootCert::File(path)) => {
            for certificate in read_certificates(path, "sslrootcert")? {
                roots.add(certificate).map_err(|e| {
                    Error::internal(format!("sslrootcert '{}': {e}", path.display()))
                })?;
            }
        }
        Some(RootCert::System) => {
            for certificate in rustls_native_certs::load_native_certs().certs {
                // A certificate the store cannot parse is skipped, as browsers do.
                let _ = roots.add(certificate);
            }
        }
        None => {
            return Err(Error::internal(format!(
                "sslmode={} verifies the server's certificate but no CA certificate is given \
                 (and ~/.postgresql/root.crt does not exist): add sslrootcert=/path/to/ca.crt \
                 (the CA that signed the server's certificate) or sslrootcert=system (the \
                 system's trusted roots), or use sslmode=require to encrypt without verifying",
                mode.as_str()
            )));
        }
    }
    Ok(Arc::new(roots))
}

/// A connection error with, for TLS failures, what to change.
pub(super) fn describe(error: &tokio_postgres::Error, ssl: &SslOptions) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    let detail = format!("{error:?}");
    let mode = ssl.effective_mode().as_str();
    if detail.contains("UnknownIssuer") || detail.contains("BadSignature") {
        message.push_str(&format!(
            " — the server's certificate is not trusted (sslmode={mode}: it is not signed by a \
             CA of sslrootcert, e.g. a self-signed certificate): give the CA that signed it \
             with sslrootcert=/path/to/ca.crt, or use sslmode=require to encrypt without \
             verifying the certificate"
        ));
    } else if detail.contains("NotValidForName") {
        message.push_str(&format!(
            " — the server's certificate does not name this host (sslmode={mode}): connect by \
             a name the certificate lists, or use sslmode=verify-ca to check the CA only"
        ));
    } else if detail.contains("Expired") || detail.contains("NotValidYet") {
        message.push_str(" — the server's certificate is outside its validity period");
    }
    message
}

/// `prefer`/`require` (`chain: None`): any certificate, as libpq does not verify in these
/// modes; `verify-ca` (`chain: Some`): the chain must lead to a trusted CA, the host name is
/// not checked. The handshake signatures are checked either way.
#[derive(Debug)]
struct Unverified {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
