//! Certificates for the tests of the audit webhook receiver: a CA, a server certificate for
//! 127.0.0.1, a client certificate for the API server, and a bearer token, in a folder of
//! their own.

use std::sync::Arc;

/// The folder holding `ca.crt`, `server.crt`/`.key`, `client.crt`/`.key` and `token`.
pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, a server certificate for 127.0.0.1 and a client certificate for the API server.
    pub fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "test CA");
        write("ca.crt", ca_params.self_signed(&ca_key).unwrap().pem());
        let issuer = Issuer::new(ca_params, ca_key);
        for (name, san) in [("server", "127.0.0.1"), ("client", "kube-apiserver")] {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(vec![san.to_string()]).unwrap();
            // Distinct from the CA's, or OpenSSL clients take the leaf for self-signed.
            params.distinguished_name.push(DnType::CommonName, san);
            let cert = params.signed_by(&key, &issuer).unwrap();
            write(&format!("{name}.crt"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        write("token", "audit-sink-token\n".to_string());
        Pki { dir }
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// A client holding the API server's certificate.
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(self.path("ca.crt")).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_file(self.path("client.crt")).unwrap()],
                PrivateKeyDer::from_pem_file(self.path("client.key")).unwrap(),
            )
            .unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
}
