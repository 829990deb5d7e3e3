//! Where Hygeia keeps files (uploaded forms and attachments, import files, export results): a local
//! directory by default, S3-compatible object storage (AWS, MinIO, Garage) when configured, behind
//! one interface on `object_store`.
//!
//! Every key lives under its account (`accounts/{id}/...`): a key read on behalf of one account
//! cannot name another account's file. Contents are streamed both ways, never held whole in memory.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt, TryStreamExt};
use hygeia_core::AccountId;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;

/// The one error type of the file layer.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// No such file, or a key outside the caller's account (the two look the same on purpose).
    #[error("file not found")]
    NotFound,
    #[error("invalid storage configuration: {0}")]
    Config(String),
    #[error("file storage failed: {0}")]
    Storage(#[from] object_store::Error),
    #[error("reading the file to store failed: {0}")]
    Io(#[from] std::io::Error),
    /// A file kept elsewhere than in file storage (the database) could not be read.
    #[error("reading the file failed: {0}")]
    Read(String),
}

pub type FileResult<T> = Result<T, FileError>;

/// S3-compatible storage: `endpoint` for MinIO, Garage or a test server (path-style requests).
/// Read from the `storage.s3` settings as it is.
#[derive(Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// Default `us-east-1`.
    pub region: String,
    pub endpoint: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allow `http://` endpoints (a server on the same private network, or tests).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// A stored file, being read: its size and its bytes in chunks.
pub struct FileStream {
    pub size: u64,
    pub chunks: BoxStream<'static, FileResult<Bytes>>,
}

#[derive(Clone)]
pub struct FileStore {
    inner: Arc<dyn ObjectStore>,
}

/// Most bytes read from a local file per chunk when storing it.
const CHUNK: usize = 256 * 1024;

impl FileStore {
    /// Files under `directory` (created if needed).
    pub fn local(directory: &Path) -> FileResult<FileStore> {
        std::fs::create_dir_all(directory)?;
        // Each key has its own random directory: removed with its file, not left behind empty.
        let store = LocalFileSystem::new_with_prefix(directory)?.with_automatic_cleanup(true);
        Ok(FileStore { inner: Arc::new(store) })
    }

    pub fn s3(config: &S3Config) -> FileResult<FileStore> {
        if config.bucket.trim().is_empty() {
            return Err(FileError::Config("storage.s3.bucket is required".into()));
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(if config.region.is_empty() { "us-east-1" } else { &config.region })
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_allow_http(config.allow_http);
        if let Some(endpoint) = config.endpoint.as_deref().filter(|e| !e.is_empty()) {
            builder = builder.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(|e| FileError::Config(e.to_string()))?;
        Ok(FileStore { inner: Arc::new(store) })
    }

    /// A new, unique key for a file of `account`: `accounts/{id}/{kind}/{random}/{name}`, where the
    /// name keeps only characters safe in paths and headers.
    pub fn new_key(account: AccountId, kind: &str, file_name: &str) -> String {
        let mut random = [0u8; 8];
        let _ = getrandom::fill(&mut random);
        format!("{}{}/{}/{}", account_prefix(account), safe_segment(kind), hex::encode(random), safe_segment(file_name))
    }

    /// A new, unique stem for one of many small uploads that arrive all day (submission payloads):
    /// `accounts/{id}/{kind}/{bucket}/{random}`, to which the caller appends `-{name}` per file.
    /// Uploads of one bucket (an hour, say) share its directory: a directory of their own each
    /// would double the inodes created per upload, the costliest part of storing small files.
    pub fn new_stem(account: AccountId, kind: &str, bucket: &str) -> String {
        let mut random = [0u8; 8];
        let _ = getrandom::fill(&mut random);
        format!("{}{}/{}/{}", account_prefix(account), safe_segment(kind), safe_segment(bucket), hex::encode(random))
    }

    /// Stores a stream of chunks under `key` (a multipart upload on S3); returns the size.
    pub async fn put_stream<S, E>(&self, key: &str, chunks: S) -> FileResult<u64>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        FileError: From<E>,
    {
        let upload = self.inner.put_multipart(&ObjectPath::from(key)).await?;
        let mut writer = WriteMultipart::new(upload);
        let mut size = 0u64;
        let mut chunks = std::pin::pin!(chunks);
        while let Some(chunk) = chunks.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(err) => {
                    writer.abort().await?;
                    return Err(err.into());
                }
            };
            // Back-pressure: at most a few parts in flight.
            writer.wait_for_capacity(4).await?;
            size += chunk.len() as u64;
            writer.put(chunk);
        }
        writer.finish().await?;
        Ok(size)
    }

    /// Stores a local file under `key`, read in chunks.
    pub async fn put_file(&self, key: &str, path: &Path) -> FileResult<u64> {
        let file = tokio::fs::File::open(path).await?;
        let chunks = futures_util::stream::try_unfold(file, |mut file| async move {
            let mut buffer = vec![0u8; CHUNK];
            let read = file.read(&mut buffer).await?;
            if read == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            buffer.truncate(read);
            Ok(Some((Bytes::from(buffer), file)))
        });
        self.put_stream(key, chunks).await
    }

    /// Stores a small file held in memory (an XForm, an XLSForm) in one request.
    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> FileResult<u64> {
        let size = bytes.len() as u64;
        self.inner.put(&ObjectPath::from(key), bytes.into()).await?;
        Ok(size)
    }

    /// Reads a file of `account`.
    pub async fn open(&self, account: AccountId, key: &str) -> FileResult<FileStream> {
        let path = owned_path(account, key)?;
        let result = self.inner.get(&path).await.map_err(not_found)?;
        let size = result.meta.size;
        let chunks = result.into_stream().map_err(FileError::from).boxed();
        Ok(FileStream { size, chunks })
    }

    pub async fn delete(&self, account: AccountId, key: &str) -> FileResult<()> {
        let path = owned_path(account, key)?;
        self.inner.delete(&path).await.map_err(not_found)
    }
}

fn account_prefix(account: AccountId) -> String {
    format!("accounts/{}/", account.0)
}

/// The key as a path, if it lies under the account's prefix and has no tricks in it.
fn owned_path(account: AccountId, key: &str) -> FileResult<ObjectPath> {
    let path = ObjectPath::parse(key).map_err(|_| FileError::NotFound)?;
    // `parse` refuses empty, `.` and `..` segments; a parsed path prints back identically.
    if path.as_ref() != key || !key.starts_with(&account_prefix(account)) {
        return Err(FileError::NotFound);
    }
    Ok(path)
}

fn not_found(err: object_store::Error) -> FileError {
    match err {
        object_store::Error::NotFound { .. } => FileError::NotFound,
        other => FileError::Storage(other),
    }
}

/// Letters, digits, `.`, `-` and `_`; anything else becomes `_`; never empty, never a dot name.
pub fn safe_segment(text: &str) -> String {
    let mut safe: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .take(120)
        .collect();
    if safe.trim_matches('.').is_empty() {
        safe = format!("file{safe}").replace('.', "_");
    }
    safe
}

/// The last segment of a key: the file name to offer a download under.
pub fn file_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_under_their_account_with_safe_names() {
        let key = FileStore::new_key(AccountId(7), "exports", "Org units (Burkina).gpkg");
        assert!(key.starts_with("accounts/7/exports/"), "{key}");
        assert!(key.ends_with("/Org_units__Burkina_.gpkg"), "{key}");
        assert_eq!(file_name(&key), "Org_units__Burkina_.gpkg");
        assert!(owned_path(AccountId(7), &key).is_ok());
        assert!(matches!(owned_path(AccountId(8), &key), Err(FileError::NotFound)));
        for sneaky in ["accounts/7/../8/x", "accounts/7//x", "accounts/70/x", "/accounts/7/x", "accounts/7/./x"] {
            assert!(matches!(owned_path(AccountId(7), sneaky), Err(FileError::NotFound)), "{sneaky}");
        }
        let stem = FileStore::new_stem(AccountId(7), "payloads", "2026120316");
        assert!(stem.starts_with("accounts/7/payloads/2026120316/"), "{stem}");
        assert_ne!(stem, FileStore::new_stem(AccountId(7), "payloads", "2026120316"));
        assert!(owned_path(AccountId(7), &format!("{stem}-0-submission.xml")).is_ok());
        assert_eq!(safe_segment(".."), "file__");
        assert_eq!(safe_segment("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(safe_segment(""), "file");
    }
}
