//! SCRAM-SHA-256 logins (RFC 5802, RFC 7677) checked against a *StoredKey* and a *ServerKey*, as
//! PostgreSQL stores passwords: the configuration's `scram` line is
//! `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64, PostgreSQL's own format, so
//! a line from `pg_authid.rolpassword` works too). Neither key lets a client log in: proving the
//! password needs the ClientKey, which only the password gives.
//!
//! pgwire's SCRAM handler needs the salted password itself (which is enough to log in), hence this
//! startup handler. Over TLS, channel binding is offered too (`SCRAM-SHA-256-PLUS`, binding type
//! `tls-server-end-point`, RFC 5929: the hash of the server's certificate), so that a client that
//! asks for it (`channel_binding=require` in libpq) knows no one in the middle relayed its login.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use datafusion_postgres::pgwire::api::auth::{
    finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata, ServerParameterProvider, StartupHandler,
};
use datafusion_postgres::pgwire::api::{ClientInfo, PgWireConnectionState, PidSecretKeyGenerator, METADATA_USER};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use ring::{digest, hmac};

/// SCRAM iterations used by `tonghop passwd` (PostgreSQL's default).
pub const ITERATIONS: u32 = 4096;

const MECHANISM: &str = "SCRAM-SHA-256";
const MECHANISM_PLUS: &str = "SCRAM-SHA-256-PLUS";
const BINDING_TYPE: &str = "tls-server-end-point";

/// The `tls-server-end-point` channel binding data of a certificate chain (PEM): the hash of its
/// first certificate by the hash of its signature algorithm, SHA-256 for MD5 and SHA-1 (RFC 5929).
/// `Err` for a signature algorithm without one hash (Ed25519, say): channel binding is then not offered.
pub fn end_point_binding(chain_pem: &[u8]) -> Result<Vec<u8>, String> {
    use x509_certificate::{certificate::CapturedX509Certificate, SignatureAlgorithm as A};
    let certs = CapturedX509Certificate::from_pem_multiple(chain_pem).map_err(|e| e.to_string())?;
    let cert = certs.first().ok_or("no certificate")?;
    let algorithm = match cert.signature_algorithm() {
        Some(A::RsaSha1 | A::RsaSha256 | A::EcdsaSha256) => &digest::SHA256,
        Some(A::RsaSha384 | A::EcdsaSha384) => &digest::SHA384,
        Some(A::RsaSha512) => &digest::SHA512,
        other => return Err(format!("no channel binding for a certificate signed with {other:?}")),
    };
    Ok(digest::digest(algorithm, cert.constructed_data()).as_ref().to_vec())
}

/// What the server keeps of a password.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier(..)")
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), message).as_ref().to_vec()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, data).as_ref().to_vec()
}

impl Verifier {
    /// The verifier of `password` with `salt`.
    pub fn new(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let salted = datafusion_postgres::pgwire::api::auth::sasl::scram::gen_salted_password(password, salt, iterations as usize);
        Verifier::from_salted(&salted, salt, iterations)
    }

    fn from_salted(salted: &[u8], salt: &[u8], iterations: u32) -> Verifier {
        let client_key = hmac_sha256(salted, b"Client Key");
        Verifier { iterations, salt: salt.to_vec(), stored_key: sha256(&client_key), server_key: hmac_sha256(salted, b"Server Key") }
    }

    /// A verifier no password matches, derived from `secret` and `name` (the same for a name
    /// throughout the process), for names that do not exist: their exchange fails at its end,
    /// like a wrong password's.
    pub fn made_up(secret: &[u8], name: &str) -> Verifier {
        let salt = hmac_sha256(secret, format!("salt:{name}").as_bytes());
        Verifier::from_salted(&hmac_sha256(secret, format!("key:{name}").as_bytes()), &salt[..16], ITERATIONS)
    }

    /// Reads `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`.
    pub fn parse(line: &str) -> Result<Verifier, String> {
        let shape = || "scram must be SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (base64); make the line with `tonghop passwd NAME`".to_string();
        let rest = line.strip_prefix("SCRAM-SHA-256$").ok_or_else(shape)?;
        let (params, keys) = rest.split_once('$').ok_or_else(shape)?;
        let (iterations, salt) = params.split_once(':').ok_or_else(shape)?;
        let Some((stored, server)) = keys.split_once(':') else {
            return Err("scram is in the old form (a salted password, which is enough to log in); make a new line with `tonghop passwd NAME`, which stores StoredKey and ServerKey as PostgreSQL does".into());
        };
        let decode = |text: &str| STANDARD.decode(text).map_err(|_| shape());
        let verifier =
            Verifier { iterations: iterations.parse().map_err(|_| shape())?, salt: decode(salt)?, stored_key: decode(stored)?, server_key: decode(server)? };
        if verifier.iterations == 0 || verifier.salt.is_empty() || verifier.stored_key.len() != 32 || verifier.server_key.len() != 32 {
            return Err(shape());
        }
        Ok(verifier)
    }

    /// The configuration line.
    pub fn line(&self) -> String {
        format!("SCRAM-SHA-256${}:{}${}:{}", self.iterations, STANDARD.encode(&self.salt), STANDARD.encode(&self.stored_key), STANDARD.encode(&self.server_key))
    }

    /// Whether `password` is the one this verifier was made from: PBKDF2 with the stored salt and
    /// iterations, then StoredKey compared in full (the dashboard's sign-in by user and password).
    pub fn matches_password(&self, password: &str) -> bool {
        let other = Verifier::new(password, &self.salt, self.iterations);
        same_bytes(&other.stored_key, &self.stored_key)
    }

    /// Checks a client's proof; on success returns the server's signature.
    fn verify(&self, auth_message: &str, proof: &[u8]) -> Option<Vec<u8>> {
        let signature = hmac_sha256(&self.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return None;
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        // Compared in full whatever the first difference (no early exit to time).
        let hashed = sha256(&client_key);
        let matches = same_bytes(&hashed, &self.stored_key);
        matches.then(|| hmac_sha256(&self.server_key, auth_message.as_bytes()))
    }
}

/// Whether two secrets are equal, compared in full whatever the first difference (no early exit
/// whose time would tell how much of a guess was right).
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where verifiers come from (the service's users), and what to do before an exchange starts.
pub trait Verifiers: Send + Sync {
    /// The verifier for `user` (a made-up one for unknown names), or an error that ends the login
    /// before the exchange (a throttled address or name).
    fn verifier(&self, user: &str, host: &str) -> PgWireResult<Verifier>;
}

enum State {
    Start,
    ServerFirstSent { user: String, verifier: Verifier, channel: String, client_first_bare: String, server_first: String, nonce: String },
    Done,
}

/// The startup handler of one connection: the SASL exchange, then the usual greeting.
pub struct ScramStartup<V, P> {
    verifiers: Arc<V>,
    parameters: Arc<P>,
    keys: Arc<dyn PidSecretKeyGenerator>,
    /// The channel binding data of the server's certificate ([`end_point_binding`]), when served over TLS.
    binding: Option<Arc<Vec<u8>>>,
    state: Mutex<State>,
}

impl<V: Verifiers, P: ServerParameterProvider> ScramStartup<V, P> {
    /// A handler for one connection; `binding`: see [`end_point_binding`].
    pub fn new(verifiers: Arc<V>, parameters: Arc<P>, keys: Arc<dyn PidSecretKeyGenerator>, binding: Option<Arc<Vec<u8>>>) -> Self {
        ScramStartup { verifiers, parameters, keys, binding, state: Mutex::new(State::Start) }
    }

    /// The channel binding data offered to `client`: over TLS, when the certificate has some.
    fn offered(&self, client: &impl ClientInfo) -> Option<&Arc<Vec<u8>>> {
        self.binding.as_ref().filter(|_| client.is_secure())
    }
}

fn protocol_error(message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), "08P01".into(), message.into())))
}

/// `a=…` attributes of a SCRAM message, in order.
fn attributes(message: &str) -> Vec<(&str, &str)> {
    message.split(',').filter_map(|part| part.split_once('=')).collect()
}

#[async_trait]
impl<V: Verifiers + 'static, P: ServerParameterProvider + 'static> StartupHandler for ScramStartup<V, P> {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                let mut mechanisms = vec![MECHANISM.to_string()];
                if self.offered(client).is_some() {
                    mechanisms.insert(0, MECHANISM_PLUS.to_string());
                }
                client.send(PgWireBackendMessage::Authentication(Authentication::SASL(mechanisms))).await?;
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let start = matches!(*self.state.lock().unwrap_or_else(|e| e.into_inner()), State::Start);
                if start {
                    let initial = message.into_sasl_initial_response()?;
                    let offered = self.offered(client);
                    let binding = match (initial.auth_method.as_str(), offered) {
                        (MECHANISM, _) => None,
                        (MECHANISM_PLUS, Some(binding)) => Some(binding),
                        _ => return Err(PgWireError::UnsupportedSASLAuthMethod(initial.auth_method)),
                    };
                    let data = initial.data.ok_or_else(|| protocol_error("SCRAM: empty client-first message"))?;
                    let text = std::str::from_utf8(&data).map_err(|_| protocol_error("SCRAM: client-first message is not UTF-8"))?;
                    // gs2-header: "p=tls-server-end-point,," with SCRAM-SHA-256-PLUS; else "n,," or "y,,"
                    // ("y": the client could bind but thinks the server cannot, which is only
                    // true when the server offered no binding). Then the bare message.
                    let plus_header = format!("p={BINDING_TYPE},,");
                    let gs2_header = match binding {
                        Some(_) if text.starts_with(&plus_header) => plus_header.as_str(),
                        Some(_) => return Err(protocol_error(format!("SCRAM: with {MECHANISM_PLUS} the channel binding must be {BINDING_TYPE}"))),
                        None if text.starts_with("n,,") => "n,,",
                        None if text.starts_with("y,,") && offered.is_none() => "y,,",
                        None if text.starts_with("y,,") => {
                            return Err(protocol_error("SCRAM: the client says the server cannot bind the channel, but it offered to"))
                        }
                        None => return Err(protocol_error(format!("SCRAM: channel binding needs {MECHANISM_PLUS}"))),
                    };
                    let bare = &text[gs2_header.len()..];
                    // The client-final message's c= attribute: the gs2 header and the binding data, base64.
                    let channel = STANDARD.encode([gs2_header.as_bytes(), binding.map_or(&[][..], |b| b.as_slice())].concat());
                    let client_nonce =
                        attributes(bare).into_iter().find(|(k, _)| *k == "r").map(|(_, v)| v.to_string()).ok_or_else(|| protocol_error("SCRAM: no nonce"))?;
                    let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                    let verifier = self.verifiers.verifier(&user, &client.socket_addr().ip().to_string())?;
                    let mut server_nonce = [0u8; 18];
                    rand::RngCore::fill_bytes(&mut rand::rng(), &mut server_nonce);
                    let nonce = format!("{client_nonce}{}", STANDARD.encode(server_nonce));
                    let server_first = format!("r={nonce},s={},i={}", STANDARD.encode(&verifier.salt), verifier.iterations);
                    client.send(PgWireBackendMessage::Authentication(Authentication::SASLContinue(server_first.clone().into()))).await?;
                    *self.state.lock().unwrap_or_else(|e| e.into_inner()) =
                        State::ServerFirstSent { user, verifier, channel, client_first_bare: bare.to_string(), server_first, nonce };
                } else {
                    let state = std::mem::replace(&mut *self.state.lock().unwrap_or_else(|e| e.into_inner()), State::Done);
                    let State::ServerFirstSent { user, verifier, channel, client_first_bare, server_first, nonce } = state else {
                        return Err(PgWireError::InvalidSASLState);
                    };
                    let response = message.into_sasl_response()?;
                    let text = std::str::from_utf8(&response.data).map_err(|_| protocol_error("SCRAM: client-final message is not UTF-8"))?;
                    let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(|| protocol_error("SCRAM: no proof"))?;
                    let fields = attributes(without_proof);
                    let binding = fields.iter().find(|(k, _)| *k == "c").map(|(_, v)| *v);
                    let client_nonce = fields.iter().find(|(k, _)| *k == "r").map(|(_, v)| *v);
                    if binding != Some(channel.as_str()) || client_nonce != Some(nonce.as_str()) {
                        return Err(protocol_error("SCRAM: the client-final message does not match the exchange"));
                    }
                    let proof = STANDARD.decode(proof).map_err(|_| protocol_error("SCRAM: the proof is not base64"))?;
                    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                    let Some(signature) = verifier.verify(&auth_message, &proof) else {
                        return Err(PgWireError::InvalidPassword(user));
                    };
                    let server_final = format!("v={}", STANDARD.encode(signature));
                    client.send(PgWireBackendMessage::Authentication(Authentication::SASLFinal(server_final.into()))).await?;
                    let (pid, secret) = self.keys.generate(client);
                    client.set_pid_and_secret_key(pid, secret);
                    finish_authentication(client, self.parameters.as_ref()).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_round_trips_and_the_old_form_is_refused_with_the_fix() {
        let verifier = Verifier::new("mật-khẩu-dài", b"0123456789abcdef", ITERATIONS);
        assert_eq!(Verifier::parse(&verifier.line()).unwrap(), verifier);
        let old = format!("SCRAM-SHA-256$4096:{}${}", hex::encode(b"0123456789abcdef"), hex::encode([7u8; 32]));
        assert!(Verifier::parse(&old).unwrap_err().contains("tonghop passwd"));
        assert!(verifier.matches_password("mật-khẩu-dài"));
        assert!(!verifier.matches_password("mật-khẩu-dai") && !verifier.matches_password(""));
    }

    /// RFC 7677's example exchange (user "user", password "pencil").
    #[test]
    fn the_rfc_example_exchange_is_accepted_and_a_wrong_proof_is_not() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = Verifier::new("pencil", &salt, 4096);
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let proof = STANDARD.decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").unwrap();
        let signature = verifier.verify(auth_message, &proof).expect("the RFC's proof");
        assert_eq!(STANDARD.encode(signature), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        let mut wrong = proof.clone();
        wrong[0] ^= 1;
        assert!(verifier.verify(auth_message, &wrong).is_none());
        // The stored keys themselves do not make a proof.
        assert!(verifier.verify(auth_message, &verifier.stored_key).is_none());
    }
}
