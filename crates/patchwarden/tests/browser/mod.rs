//! Headless chromium for the page and console tests: Debian's `chromium` driven by its
//! `chromedriver` through the `fantoccini` WebDriver client (docs/design/decisions.md), one
//! session per test file; and the page checks every console page passes — every form control
//! labelled, text contrast at WCAG AA computed in the browser from the applied CSS, and keyboard
//! focus reaching a page's main action.
//!
//! Needs `chromium` and `chromedriver` (scripts/install-test-deps.sh installs both); fails loudly
//! without them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use serde_json::json;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Debian package's binary, or a panic saying how to install it.
pub fn require(binary: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let path = Path::new(dir).join(binary);
        if path.exists() {
            return path;
        }
    }
    panic!(
        "{binary} is not installed: the browser tests need Debian's chromium and chromium-driver \
         (run scripts/install-test-deps.sh, or apt-get install chromium chromium-driver)"
    );
}

/// One WebDriver session of headless chromium; chromedriver ends with it.
pub struct Browser {
    pub client: Client,
    _driver: Killed,
}

impl Browser {
    /// chromedriver on a free loopback port, and a headless chromium `width`×`height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        let chromium = require("chromium");
        let driver = require("chromedriver");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let driver = Killed(child);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium, "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--force-device-scale-factor=1", "--hide-scrollbars",
                format!("--window-size={width},{height}")]}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let started = Instant::now();
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(error) => assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "chromedriver did not start chromium: {error}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        Browser {
            client,
            _driver: driver,
        }
    }

    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }

    pub async fn current_url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Waits (bounded) until the page's source satisfies `ok`, reloading it every 300 ms; returns
    /// it.
    pub async fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, Duration::from_secs(30), ok)
            .await
    }

    pub async fn wait_for_within(
        &self,
        what: &str,
        limit: Duration,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        self.poll(what, limit, Some(Duration::from_millis(300)), ok)
            .await
    }

    /// Waits (bounded, 15 s) until the page the browser shows satisfies `ok`, without reloading
    /// it: for the answer to a form post, which a reload would post again.
    pub async fn await_page(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.poll(what, Duration::from_secs(15), None, ok).await
    }

    /// Reads the page until `ok`, at most `limit`; reloads it every `reload` (or only looks
    /// again every 100 ms).
    async fn poll(
        &self,
        what: &str,
        limit: Duration,
        reload: Option<Duration>,
        ok: impl Fn(&str) -> bool,
    ) -> String {
        let started = Instant::now();
        loop {
            let source = self.source().await;
            if ok(&source) {
                return source;
            }
            assert!(
                started.elapsed() < limit,
                "{what}: not seen at {}:\n{source}",
                self.current_url().await
            );
            tokio::time::sleep(reload.unwrap_or(Duration::from_millis(100))).await;
            if reload.is_some() {
                self.client.refresh().await.unwrap();
            }
        }
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Types `text` into the field `css` (after clearing it).
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// A keypress on the focused element.
    pub async fn press(&self, key: Key) {
        let focused = self.client.active_element().await.unwrap();
        focused.send_keys(&key).await.unwrap();
    }

    /// What `document.activeElement` is, as `tag#id` (or `tag[name=…]`, or `tag:text`).
    pub async fn focused(&self) -> String {
        let script = "const e = document.activeElement; \
            if (!e) return ''; const t = e.tagName.toLowerCase(); \
            if (e.id) return t + '#' + e.id; \
            if (e.name) return t + '[name=' + e.name + ']'; \
            return t + ':' + (e.textContent || '').trim().slice(0, 40);";
        self.client
            .execute(script, vec![])
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Presses Tab from the top of the page until `target` (a `focused()` string) has focus;
    /// returns how many presses that took. Fails when focus comes round without reaching it.
    pub async fn tab_to(&self, target: &str) -> usize {
        self.client
            .execute(
                "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
                vec![],
            )
            .await
            .unwrap();
        let body = self.client.find(Locator::Css("body")).await.unwrap();
        let mut seen = Vec::new();
        for presses in 1..=300 {
            body.send_keys(&Key::Tab).await.unwrap();
            let now = self.focused().await;
            if now == target {
                return presses;
            }
            seen.push(now);
        }
        panic!("Tab never reached {target}; focus went through {seen:?}");
    }

    /// A PNG of the viewport, written to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
    }

    /// The checks every console page passes (labels, contrast); `page` names it in failures.
    pub async fn check_page(&self, page: &str) {
        let unlabelled = self.client.execute(UNLABELLED, vec![]).await.unwrap();
        assert_eq!(
            unlabelled,
            json!([]),
            "{page}: form controls without a label"
        );
        let pairs = self.client.execute(TEXT_COLOURS, vec![]).await.unwrap();
        let pairs = pairs.as_array().unwrap();
        assert!(!pairs.is_empty(), "{page}: no text found");
        let mut low = Vec::new();
        for pair in pairs {
            let fg = parse_rgb(pair["fg"].as_str().unwrap());
            let bg = parse_rgb(pair["bg"].as_str().unwrap());
            let ratio = contrast(blend(fg, bg), bg);
            if ratio < 4.5 {
                low.push(format!("{ratio:.2}: {pair}"));
            }
        }
        assert!(
            low.is_empty(),
            "{page}: text below 4.5:1 contrast: {low:#?}"
        );
    }

    pub async fn close(self) {
        self.client.close().await.unwrap();
    }
}

/// Every visible input, select and textarea (not hidden, not a button) without a `<label>`,
/// `aria-label` or `aria-labelledby`, as `tag#id[name]`.
const UNLABELLED: &str = "return Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(e => e.type !== 'hidden' && e.type !== 'submit' && e.type !== 'button')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
               && !e.getAttribute('aria-labelledby'))
  .map(e => e.tagName.toLowerCase() + '#' + e.id + '[' + e.name + ']');";

/// For every visible element with text of its own: its computed colour and the first opaque
/// background colour up its ancestors (white at the top), with the text for the message.
/// Elements behind a gradient (a blackout cell) are measured against its lighter stripe's colour
/// as the cell's `background-color`.
const TEXT_COLOURS: &str = "const out = [];
const opaque = c => c && c !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(c);
for (const e of document.querySelectorAll('body *')) {
  if (['SCRIPT', 'STYLE', 'OPTION'].includes(e.tagName)) continue;
  const own = Array.from(e.childNodes).filter(n => n.nodeType === 3 && n.textContent.trim()).length;
  if (!own) continue;
  const r = e.getBoundingClientRect();
  if (r.width === 0 || r.height === 0 || r.right < 0) continue;
  let bg = 'rgb(255, 255, 255)';
  for (let a = e; a; a = a.parentElement) {
    const c = getComputedStyle(a).backgroundColor;
    if (opaque(c)) { bg = c; break; }
  }
  out.push({fg: getComputedStyle(e).color, bg, text: e.textContent.trim().slice(0, 40),
            tag: e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')});
}
return out;";

/// `rgb(r, g, b)` or `rgba(r, g, b, a)` as computed styles write them.
pub fn parse_rgb(text: &str) -> [f64; 4] {
    let inner = text
        .trim()
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')');
    let parts: Vec<f64> = inner
        .split(',')
        .map(|p| {
            p.trim()
                .parse()
                .unwrap_or_else(|_| panic!("colour {text:?}"))
        })
        .collect();
    assert!(parts.len() == 3 || parts.len() == 4, "colour {text:?}");
    [
        parts[0],
        parts[1],
        parts[2],
        parts.get(3).copied().unwrap_or(1.0),
    ]
}

/// A translucent text colour over its background, as it is painted.
fn blend(fg: [f64; 4], bg: [f64; 4]) -> [f64; 4] {
    let a = fg[3];
    [
        fg[0] * a + bg[0] * (1.0 - a),
        fg[1] * a + bg[1] * (1.0 - a),
        fg[2] * a + bg[2] * (1.0 - a),
        1.0,
    ]
}

/// WCAG 2.x relative luminance of an sRGB colour (0–255 channels).
fn luminance(c: [f64; 4]) -> f64 {
    let channel = |v: f64| {
        let s = v / 255.0;
        if s <= 0.04045 {
            s / 12.92
        } else {
            ((s + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2])
}

/// WCAG 2.x contrast ratio, 1–21.
pub fn contrast(a: [f64; 4], b: [f64; 4]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// The known WCAG ratios, so the check itself can fail.
pub fn check_contrast_formula() {
    let black = parse_rgb("rgb(0, 0, 0)");
    let white = parse_rgb("rgb(255, 255, 255)");
    assert!((contrast(black, white) - 21.0).abs() < 1e-9);
    // #777 on white is the classic 4.48:1 that fails AA.
    let grey = parse_rgb("rgb(119, 119, 119)");
    assert!((contrast(grey, white) - 4.48).abs() < 0.01);
    assert!((contrast(white, white) - 1.0).abs() < 1e-9);
    // Half-transparent black text on white paints as mid grey.
    let faded = blend(parse_rgb("rgba(0, 0, 0, 0.5)"), white);
    assert_eq!(faded, [127.5, 127.5, 127.5, 1.0]);
}
