//! Embeds the web UI's static files. Front-end packages come from npm (`web/package.json` and its
//! lock file): when `web/node_modules` is missing or older than the lock file, `npm ci` installs
//! them (Node.js 20+ and npm must be on the PATH). Nothing is fetched at run time.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

/// (name served under /static/, file under web/, content type)
const ASSETS: &[(&str, &str, &str)] = &[
    ("htmx.min.js", "node_modules/htmx.org/dist/htmx.min.js", "text/javascript; charset=utf-8"),
    ("leaflet.js", "node_modules/leaflet/dist/leaflet.js", "text/javascript; charset=utf-8"),
    ("leaflet.css", "node_modules/leaflet/dist/leaflet.css", "text/css; charset=utf-8"),
    ("images/marker-icon.png", "node_modules/leaflet/dist/images/marker-icon.png", "image/png"),
    ("images/marker-icon-2x.png", "node_modules/leaflet/dist/images/marker-icon-2x.png", "image/png"),
    ("images/marker-shadow.png", "node_modules/leaflet/dist/images/marker-shadow.png", "image/png"),
    ("app.css", "src/app.css", "text/css; charset=utf-8"),
    ("app.js", "src/app.js", "text/javascript; charset=utf-8"),
    ("map.js", "src/map.js", "text/javascript; charset=utf-8"),
    // ODK Web Forms (a Vue component) with Vue, bundled from src/fill.js by esbuild into OUT_DIR.
    ("fill.js", "$OUT/fill.js", "text/javascript; charset=utf-8"),
];

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let web = manifest.join("../../web").canonicalize().expect("the web/ folder beside crates/");
    println!("cargo:rerun-if-changed={}", web.join("package.json").display());
    println!("cargo:rerun-if-changed={}", web.join("package-lock.json").display());
    println!("cargo:rerun-if-changed={}", web.join("src").display());
    println!("cargo:rerun-if-changed={}", web.join("node_modules/.package-lock.json").display());
    install_packages(&web);

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bundle(&web, "src/fill.js", &out.join("bundle/fill.js"));
    let mut table = String::from("pub static ASSETS: &[Asset] = &[\n");
    for (name, source, content_type) in ASSETS {
        let path = match source.strip_prefix("$OUT/") {
            Some(built) => out.join("bundle").join(built),
            None => web.join(source),
        };
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `npm ci` in web/)", path.display()));
        let copy = out.join(name.replace('/', "_"));
        fs::write(&copy, &bytes).unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
        writeln!(
            table,
            "    Asset {{ name: {name:?}, content_type: {content_type:?}, version: \"{:016x}\", bytes: include_bytes!({:?}) }},",
            fnv1a(&bytes),
            copy.display().to_string(),
        )
        .expect("writing to a String");
    }
    table.push_str("];\n");
    fs::write(out.join("assets.rs"), table).expect("writing assets.rs");
}

/// `npm ci` when the installed packages are missing or older than the lock file.
fn install_packages(web: &Path) {
    let lock = web.join("package-lock.json");
    let installed = web.join("node_modules/.package-lock.json");
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(installed), Some(lock)) = (modified(&installed), modified(&lock))
        && installed >= lock
    {
        return;
    }
    let npm = env::var("HYGEIA_NPM").unwrap_or_else(|_| "npm".into());
    let status = Command::new(&npm)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(web)
        .status()
        .unwrap_or_else(|e| {
            panic!("the web UI's packages come from npm, and `{npm} ci` could not start in {}: {e}; install Node.js 20+ and npm", web.display())
        });
    assert!(status.success(), "`{npm} ci` failed in {} ({status})", web.display());
}

/// One ES module with everything it imports, minified (esbuild from web/node_modules).
fn bundle(web: &Path, entry: &str, outfile: &Path) {
    let esbuild = web.join("node_modules/.bin/esbuild");
    let status = Command::new(&esbuild)
        .arg(entry)
        .args([
            "--bundle",
            "--minify",
            "--format=esm",
            "--target=es2022",
            "--log-level=warning",
            "--legal-comments=eof",
        ])
        .arg(format!("--outfile={}", outfile.display()))
        .current_dir(web)
        .status()
        .unwrap_or_else(|e| panic!("{} could not start: {e} (run `npm ci` in web/)", esbuild.display()));
    assert!(status.success(), "esbuild failed on {entry} ({status})");
}

/// A content hash for cache-busting URLs (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}
