//! TLS material that follows its files: `sslQuorumReloadCertFiles` for the quorum, and the
//! client port always (3.9's `X509Util#enableCertFileReloading`; an operator rotating
//! certificates expects it of the client port too).
//!
//! Each socket asks [`TlsSource`] for the current configuration when it starts a handshake,
//! so a rotation reaches new handshakes only; established connections keep the session
//! they negotiated, as in 3.8/3.9. A store that fails to load after a change is logged and
//! the previous material stays in use, so a half-copied file never takes a port down.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::{ClientConfig, ServerConfig};
use tokio_util::sync::CancellationToken;

use super::{TlsError, TlsMaterial, TlsSettings};

/// What tells a store file's versions apart without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    path: PathBuf,
    /// `None` when the file cannot be stat'ed (e.g. between a delete and a rename).
    seen: Option<(SystemTime, u64)>,
}

impl FileStamp {
    fn of(path: PathBuf) -> Self {
        let seen = std::fs::metadata(&path)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        FileStamp { path, seen }
    }
}

/// One loaded version of the material and the configurations made from it so far.
struct Loaded {
    material: Arc<TlsMaterial>,
    stamps: Vec<FileStamp>,
    server: Mutex<Option<Arc<ServerConfig>>>,
    admin: Mutex<Option<Arc<ServerConfig>>>,
    /// Client configs by the extra names a peer's certificate may carry.
    clients: Mutex<HashMap<Vec<String>, Arc<ClientConfig>>>,
}

impl Loaded {
    /// `stamps` were taken before `material` was read, so a file replaced while it was
    /// being read shows as changed at the next look.
    fn new(material: TlsMaterial, stamps: Vec<FileStamp>) -> Self {
        Loaded {
            material: Arc::new(material),
            stamps,
            server: Mutex::new(None),
            admin: Mutex::new(None),
            clients: Mutex::new(HashMap::new()),
        }
    }
}

fn stamps_of(settings: &TlsSettings) -> Vec<FileStamp> {
    [&settings.key_store, &settings.trust_store]
        .into_iter()
        .flatten()
        .map(|spec| FileStamp::of(spec.location.clone()))
        .collect()
}

/// The current TLS material of one context (client port or quorum) and the rustls configs
/// made from it, swapped whole when the store files change.
pub struct TlsSource {
    current: RwLock<Arc<Loaded>>,
}

impl std::fmt::Debug for TlsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSource")
            .field("kind", &self.material().settings.kind)
            .finish_non_exhaustive()
    }
}

impl TlsSource {
    /// Loads the stores `settings` names; an error here is a start-up error.
    pub fn load(settings: TlsSettings) -> Result<Arc<Self>, TlsError> {
        let stamps = stamps_of(&settings);
        let material = TlsMaterial::load(settings)?;
        Ok(Arc::new(TlsSource {
            current: RwLock::new(Arc::new(Loaded::new(material, stamps))),
        }))
    }

    fn loaded(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The material in use now (settings, identity, trust anchors).
    pub fn material(&self) -> Arc<TlsMaterial> {
        self.loaded().material.clone()
    }

    /// The listening sockets' config of the current material (made once per version).
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let loaded = self.loaded();
        let mut slot = loaded.server.lock().unwrap_or_else(|p| p.into_inner());
        cached(&mut slot, || loaded.material.server_config())
    }

    /// The AdminServer's HTTPS config of the current material (see
    /// [`TlsMaterial::admin_server_config`]).
    pub fn admin_server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let loaded = self.loaded();
        let mut slot = loaded.admin.lock().unwrap_or_else(|p| p.into_inner());
        cached(&mut slot, || loaded.material.admin_server_config())
    }

    /// A connecting socket's config accepting `also_accept` as the peer's names (see
    /// [`TlsMaterial::client_config`]); made once per version and name list.
    pub fn client_config(&self, also_accept: &[String]) -> Result<Arc<ClientConfig>, TlsError> {
        let loaded = self.loaded();
        let mut clients = loaded.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(config) = clients.get(also_accept) {
            return Ok(config.clone());
        }
        let config = loaded.material.client_config(also_accept)?;
        clients.insert(also_accept.to_vec(), config.clone());
        Ok(config)
    }

    /// Reloads when a store file changed since the material in use was loaded. Returns
    /// whether new material is now in use; a failed load keeps the old one (the error says
    /// why). Blocking: it reads and decrypts the stores.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let loaded = self.loaded();
        let stamps = stamps_of(&loaded.material.settings);
        if stamps == loaded.stamps {
            return Ok(false);
        }
        // a key store and its trust store are replaced one after the other: the stamps
        // from before this read make a file that changes during it load again next time
        let material = TlsMaterial::load(loaded.material.settings.clone())?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Loaded::new(material, stamps));
        Ok(true)
    }

    /// Polls the store files every `every` until `shutdown`, swapping in new material when
    /// they change. `what` names the context in the log ("client port", "quorum").
    pub fn spawn_watcher(
        self: &Arc<Self>,
        what: &'static str,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let source = self.clone();
        tokio::spawn(async move {
            let mut failed_stamps = None;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                let s = source.clone();
                let stamps = stamps_of(&source.material().settings);
                if failed_stamps.as_ref() == Some(&stamps) {
                    continue; // the same broken files: said once already
                }
                match tokio::task::spawn_blocking(move || s.reload_if_changed()).await {
                    Ok(Ok(true)) => {
                        failed_stamps = None;
                        tracing::info!(context = what, "TLS key or trust store changed; new handshakes use the reloaded material");
                    }
                    Ok(Ok(false)) => failed_stamps = None,
                    Ok(Err(e)) => {
                        failed_stamps = Some(stamps);
                        tracing::warn!(context = what, error = %e, "TLS key or trust store changed but cannot be loaded; keeping the previous material");
                    }
                    Err(e) => tracing::warn!(context = what, error = %e, "TLS reload task failed"),
                }
            }
        });
    }
}

fn cached<T>(
    slot: &mut Option<Arc<T>>,
    make: impl FnOnce() -> Result<Arc<T>, TlsError>,
) -> Result<Arc<T>, TlsError> {
    if let Some(v) = slot.as_ref() {
        return Ok(v.clone());
    }
    let v = make()?;
    *slot = Some(v.clone());
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::settings::TlsContextKind;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("src/tls/fixtures")
            .join(name)
    }

    fn settings_for(dir: &std::path::Path) -> TlsSettings {
        let entries = vec![
            (
                "ssl.keyStore.location".to_owned(),
                dir.join("key.pem").display().to_string(),
            ),
            (
                "ssl.trustStore.location".to_owned(),
                fixture("ca.pem").display().to_string(),
            ),
        ];
        TlsSettings::from_entries(TlsContextKind::Client, &entries).unwrap()
    }

    fn leaf_of(source: &TlsSource) -> Option<Vec<u8>> {
        source.material().identity_leaf().map(|c| c.to_vec())
    }

    /// A changed key store is picked up; a broken one keeps the old material; configs are
    /// made once per version.
    #[test]
    fn reload_follows_the_files_and_survives_a_broken_one() {
        let dir = std::env::temp_dir().join(format!("tls-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(fixture("server-nopass.pem"), dir.join("key.pem")).unwrap();
        let source = TlsSource::load(settings_for(&dir)).unwrap();
        let first = source.server_config().unwrap();
        assert!(Arc::ptr_eq(&first, &source.server_config().unwrap()));
        assert!(!source.reload_if_changed().unwrap());
        let before = leaf_of(&source);

        // a broken file: the error names the store, and the old config stays in use
        std::fs::write(dir.join("key.pem"), b"not a key store").unwrap();
        let err = source.reload_if_changed().unwrap_err().to_string();
        assert!(err.contains("ssl.keyStore.location"), "{err}");
        assert!(Arc::ptr_eq(&first, &source.server_config().unwrap()));
        assert_eq!(before, leaf_of(&source));

        // a good new file (the client's EC key and chain): swapped in, a new config made
        std::fs::copy(fixture("client-nopass.pem"), dir.join("key.pem")).unwrap();
        assert!(source.reload_if_changed().unwrap());
        let second = source.server_config().unwrap();
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(before.is_some());
        assert_ne!(before, leaf_of(&source));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
