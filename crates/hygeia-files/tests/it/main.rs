//! The file store on a local directory and, when `HYGEIA_TEST_S3_URL` is set (CI starts a moto S3
//! server), on S3: streamed writes and reads, account scoping, deletion.

use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use hygeia_core::AccountId;
use hygeia_files::{FileError, FileStore, S3Config};

fn local() -> (FileStore, std::path::PathBuf) {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hygeia-files-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    (FileStore::local(&dir).unwrap(), dir)
}

/// A bucket of its own on the test S3 server, or `None` without one.
async fn s3() -> Option<FileStore> {
    let endpoint = std::env::var("HYGEIA_TEST_S3_URL").ok().filter(|u| !u.is_empty())?;
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let bucket = format!("hygeia-test-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    // moto creates buckets on a plain PUT; real servers need them made beforehand.
    let status = std::process::Command::new("curl")
        .args(["-sf", "-X", "PUT", &format!("{endpoint}/{bucket}")])
        .status()
        .expect("curl");
    assert!(status.success(), "HYGEIA_TEST_S3_URL={endpoint} is set but creating a bucket failed");
    let config = S3Config {
        bucket,
        region: "us-east-1".into(),
        endpoint: Some(endpoint),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        allow_http: true,
    };
    Some(FileStore::s3(&config).unwrap())
}

async fn read_all(store: &FileStore, account: AccountId, key: &str) -> Vec<u8> {
    let file = store.open(account, key).await.unwrap();
    let mut chunks = file.chunks;
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(bytes.len() as u64, file.size);
    bytes
}

async fn round_trips_streams_and_scopes(store: FileStore) {
    let account = AccountId(3);
    // 12 MiB in 1 MiB chunks: several multipart parts on S3.
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let chunks = futures_util::stream::iter((0..12).map(|_| Ok::<_, FileError>(Bytes::from(chunk.clone()))));
    let key = FileStore::new_key(account, "exports", "tree.gpkg");
    assert_eq!(store.put_stream(&key, chunks).await.unwrap(), 12 * 1024 * 1024);
    let back = read_all(&store, account, &key).await;
    assert_eq!(back.len(), 12 * 1024 * 1024);
    assert!(back.chunks(chunk.len()).all(|c| c == chunk.as_slice()));

    // Another account cannot read or delete it, even knowing the key.
    assert!(matches!(store.open(AccountId(4), &key).await, Err(FileError::NotFound)));
    assert!(matches!(store.delete(AccountId(4), &key).await, Err(FileError::NotFound)));

    // A local file, stored in chunks.
    let source = std::env::temp_dir().join(format!("hygeia-files-source-{}.csv", std::process::id()));
    std::fs::write(&source, "name;parent\nCSPS Bana;DS Boromo\n").unwrap();
    let csv = FileStore::new_key(account, "imports", "schools.csv");
    assert_eq!(store.put_file(&csv, &source).await.unwrap(), 32);
    assert_eq!(read_all(&store, account, &csv).await, b"name;parent\nCSPS Bana;DS Boromo\n");
    std::fs::remove_file(&source).unwrap();

    // A failing stream stores nothing.
    let broken = futures_util::stream::iter([
        Ok(Bytes::from_static(b"half")),
        Err(FileError::Io(std::io::Error::other("the phone went away"))),
    ]);
    let partial = FileStore::new_key(account, "uploads", "cut.xml");
    assert!(store.put_stream(&partial, broken).await.is_err());
    assert!(matches!(store.open(account, &partial).await, Err(FileError::NotFound)));

    store.delete(account, &csv).await.unwrap();
    assert!(matches!(store.open(account, &csv).await, Err(FileError::NotFound)));
    assert!(matches!(store.open(account, "accounts/3/exports/none").await, Err(FileError::NotFound)));
}

#[tokio::test]
async fn local_directory() {
    let (store, dir) = local();
    round_trips_streams_and_scopes(store).await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn s3_compatible_storage() {
    let Some(store) = s3().await else {
        eprintln!("HYGEIA_TEST_S3_URL is unset: S3 file store test skipped");
        return;
    };
    round_trips_streams_and_scopes(store).await;
}
