// The web terminal in a real browser: Debian's Chromium driven by
// playwright-core. Without a browser the test fails; it never skips.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run"];
const wait = 20_000; // bounds every wait
const shots = path.join(here, "e2e", "screenshots");

let server, url, browser, page, work;

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), "web-terminal-"));
  const bin = path.join(work, "web-terminal");
  execFileSync("go", ["build", "-o", bin, "."], { cwd: here, stdio: "inherit" });
  server = spawn(bin, ["-assets", path.join(here, "node_modules")], { stdio: ["ignore", "pipe", "inherit"] });
  url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("the server printed no URL")), wait);
    server.stdout.on("data", (b) => {
      out += b;
      const nl = out.indexOf("\n");
      if (nl >= 0) { clearTimeout(timer); resolve(out.slice(0, nl)); }
    });
    server.on("exit", (code) => reject(new Error(`the server exited with ${code}`)));
  });
  browser = await chromium.launch({ executablePath, args: flags, headless: true, timeout: wait });
  page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
  page.setDefaultTimeout(wait);
  mkdirSync(shots, { recursive: true });
  await page.goto(url);
  await page.waitForFunction(() => window.term && window.term.cols > 0);
});

after(async () => {
  if (page) await page.screenshot({ path: path.join(shots, "last.png") });
  await browser?.close();
  server?.kill("SIGTERM");
  if (work) rmSync(work, { recursive: true, force: true });
});

// run types a command into the page and starts it.
async function run(command) {
  const runs = await page.evaluate(() => window.runs);
  await page.fill("#command", command);
  await page.click("#run");
  await page.waitForFunction((n) => window.runs > n, runs);
}

// ended waits for the run's terminal event and returns the status line.
async function ended() {
  await page.waitForFunction(() => window.ends === window.runs);
  return page.textContent("#status");
}

// screen is the terminal's buffer, one string per line, blank ones dropped.
function screen() {
  return page.evaluate(() => {
    const b = window.term.buffer.active;
    const out = [];
    for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
    return out.filter((l) => l !== "");
  });
}

async function waitScreen(text) {
  await page.waitForFunction((t) => {
    const b = window.term.buffer.active;
    for (let i = 0; i < b.length; i++) if (b.getLine(i).translateToString(true).includes(t)) return true;
    return false;
  }, text);
}

test("\\r progress shows only its final state, on one line", async () => {
  await run(`for i in 1 2 3 4 5; do printf '\\rprogress %d/5' $i; sleep 0.1; done; echo; echo done`);
  assert.equal(await ended(), "completed (exit 0)");
  assert.deepEqual(await screen(), ["progress 5/5", "done"]);
});

test("a coloured line keeps its colour", async () => {
  await run(`printf '\\033[31mred text\\033[0m plain\\n'`);
  assert.equal(await ended(), "completed (exit 0)");
  // The buffer is written; its rows reach the DOM at the next frame.
  await page.waitForFunction(() =>
    [...document.querySelectorAll(".xterm-rows span")].some((s) => s.textContent.includes("plain")));
  const classes = await page.$$eval(".xterm-rows span", (spans) =>
    spans.filter((s) => s.textContent.includes("red")).map((s) => s.className));
  assert.ok(classes.some((c) => c.split(" ").includes("xterm-fg-1")), `red span classes: ${classes}`);
  const plain = await page.$$eval(".xterm-rows span", (spans) =>
    spans.filter((s) => s.textContent.includes("plain")).map((s) => s.className));
  assert.ok(plain.every((c) => !c.includes("xterm-fg-1")), `plain span classes: ${plain}`);
});

test("a prompt answered from the page", async () => {
  await run(`read -p 'Name? ' n; echo "hello $n"`);
  await waitScreen("Name? ");
  await page.keyboard.type("bob");
  await page.keyboard.press("Enter");
  assert.equal(await ended(), "completed (exit 0)");
  assert.deepEqual(await screen(), ["Name? bob", "hello bob"]);
  await page.screenshot({ path: path.join(shots, "prompt.png") });
});

test("a resize changes tput cols", async () => {
  await run(`read -p 'go? ' x; tput cols`);
  await waitScreen("go? ");
  const before = await page.evaluate(() => window.term.cols);
  const resized = page.waitForResponse((r) => r.url().endsWith("/api/resize") && r.ok());
  await page.setViewportSize({ width: 640, height: 480 });
  await resized;
  const cols = await page.evaluate(() => window.term.cols);
  assert.ok(cols < before, `cols ${cols} after the resize, ${before} before`);
  await page.keyboard.press("Enter");
  assert.equal(await ended(), "completed (exit 0)");
  assert.deepEqual(await screen(), ["go? ", String(cols)]);
});

test("the cancel button ends sleep 60 as cancelled", async () => {
  const start = Date.now();
  await run("sleep 60");
  await page.click("#cancel");
  assert.match(await ended(), /^cancelled /);
  assert.ok(Date.now() - start < 15_000, "cancel took too long");
});

test("a request without the token, or from another origin, is refused", async () => {
  const bare = url.replace(/\?token=.*/, "");
  const token = new URL(url).searchParams.get("token");
  assert.equal((await fetch(bare)).status, 403);
  assert.equal((await fetch(bare + "?token=wrong")).status, 403);
  const body = JSON.stringify({ id: randomUUID(), command: "touch /tmp/pwned" });
  assert.equal((await fetch(new URL("/api/run", bare), { method: "POST", body })).status, 403);
  const evil = await fetch(new URL("/api/run", bare), {
    method: "POST", body, headers: { "X-Token": token, Origin: "http://evil.example" },
  });
  assert.equal(evil.status, 403);
  assert.equal((await fetch(url)).status, 200);
});
