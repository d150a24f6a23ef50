// demo.test.mjs: knn serve's pages in a real browser (Debian's Chromium, driven headless by
// playwright-core): the decision-boundary demo answers a drag, a change of metric and of K
// by a new colouring of the plane, also dragged by a finger on a 400 px wide touch screen; the
// upload page shows a photo as knn sees it, its top classes as bars and its K nearest
// training images as pictures (and no server path), several photos as a grid with errors in
// words; a class named like HTML (a folder "<img src=x onerror=...>") is shown as text, never
// run.
// Screenshots go to build/screenshots/. Skips, saying why, where Chromium or playwright-core
// is missing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const knn = path.join(root, 'knn');
const shots = path.join(root, 'build', 'screenshots');
const chromiumPath = '/usr/bin/chromium';

function skip(why) {
  console.log(`SKIP browser: ${why}`);
  console.log('browser: 0 passed, 0 failed, 1 skipped');
  process.exit(0);
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  skip('playwright-core is not installed (npm install in tests/browser)');
}
if (!fs.existsSync(chromiumPath)) skip('Chromium is not installed (Debian package chromium)');

// A PNG of one colour (rgb: [r, g, b]) or of any pixels (rgb: (x, y) => [r, g, b]), written
// with node's zlib.
function png(w, h, rgb) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 255] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc(body), 8 + data.length);
    return out;
  };
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      raw.set(typeof rgb === 'function' ? rgb(x, y) : rgb, y * (w * 3 + 1) + 1 + 3 * x);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function run(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(knn, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(err))));
  });
}

function serve(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(knn, ['serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.on('data', (d) => {
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(String(d));
      if (m) resolve({ proc: p, url: `http://127.0.0.1:${m[1]}` });
    });
    p.on('close', (code) => reject(new Error(`knn serve ended (${code})`)));
  });
}

const tmp = fs.mkdtempSync('/tmp/knn-browser-');
fs.mkdirSync(shots, { recursive: true });
for (const [name, rgb] of [['cat', [230, 20, 20]], ['dog', [20, 30, 220]]]) {
  fs.mkdirSync(path.join(tmp, 'pets', name), { recursive: true });
  for (let i = 0; i < 3; i++)
    fs.writeFileSync(path.join(tmp, 'pets', name, `${i}.png`), png(9 + i, 8, rgb.map((c) => Math.max(0, c - 15 * i))));
}
const model = path.join(tmp, 'pets.knn');
await run(['fit', path.join(tmp, 'pets'), '-o', model, '-k', '3', '--size', '8', '-q']);
const photo = path.join(tmp, 'red.png');
fs.writeFileSync(photo, png(30, 20, [240, 10, 10]));

const { proc, url } = await serve([model]);
const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
let passed = 0, failed = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
    passed++;
  } catch (e) {
    console.log(`FAIL ${name}: ${e.message}`);
    failed++;
  }
}
const assert = (cond, msg) => { if (!cond) throw new Error(msg); };
const renders = () => page.evaluate(() => window.knnDemo.renders());
const grid = () => page.evaluate(() => window.knnDemo.grid().join(''));
async function afterRender(action) {
  const before = await renders();
  await action();
  await page.waitForFunction((n) => window.knnDemo.renders() > n, before, { timeout: 10000 });
  await page.waitForTimeout(150); // a drag may queue one more render
}

await page.goto(url + '/');
await page.waitForFunction(() => window.knnDemo && window.knnDemo.renders() > 0, null, { timeout: 10000 });
await page.screenshot({ path: path.join(shots, 'demo.png') });

await check('dragging a point across a boundary recolours the plane', async () => {
  const g0 = await grid();
  const box = await page.locator('#plane').boundingBox();
  const pts = await page.evaluate(() => window.knnDemo.points());
  const a = pts[0], b = pts.find((p) => p.label !== a.label);
  await afterRender(async () => {
    await page.mouse.move(box.x + a.x * 500, box.y + a.y * 500);
    await page.mouse.down();
    await page.mouse.move(box.x + b.x * 500 + 12, box.y + b.y * 500 + 12, { steps: 8 });
    await page.mouse.up();
  });
  assert((await grid()) !== g0, 'the colouring did not change');
  await page.screenshot({ path: path.join(shots, 'demo-dragged.png') });
});

await check('switching to L1 changes the picture', async () => {
  const g0 = await grid();
  await afterRender(() => page.check('input[name=metric][value=l1]'));
  assert((await grid()) !== g0, 'L1 and L2 gave the same plane');
  await page.screenshot({ path: path.join(shots, 'demo-l1.png') });
});

await check('K = 7 changes the picture, and the status says so', async () => {
  const g0 = await grid();
  await afterRender(() => page.locator('#k').fill('7'));
  assert((await grid()) !== g0, 'K = 1 and K = 7 gave the same plane');
  const status = await page.textContent('#status');
  assert(status.includes('K = 7') && status.includes('l1'), `status: ${status}`);
  await page.screenshot({ path: path.join(shots, 'demo-k7.png') });
});

await check('the upload page shows the photo as knn sees it, bars and K pictures, no server path', async () => {
  await page.goto(url + '/upload');
  await page.setInputFiles('#file', photo);
  await page.waitForSelector('#answer', { timeout: 10000 });
  assert((await page.textContent('#answer')) === 'cat', 'not a cat');
  assert((await page.locator('#top li').count()) === 2, 'two classes expected');
  assert((await page.locator('#top .bar span').count()) === 2, 'no bars');
  await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 10000 });
  const pics = await page.evaluate(() => [...document.querySelectorAll('#neighbors img')].map((i) => i.naturalWidth));
  assert(pics.length === 3 && pics.every((w) => w === 8), `neighbour pictures: ${pics}`);
  const seen = await page.evaluate(() => [...document.querySelectorAll('img.px')].map((i) => i.naturalWidth));
  assert(seen.length === 1 && seen[0] === 8, `the photo as knn sees it: ${seen}`);
  const html = await page.evaluate(() => document.documentElement.outerHTML);
  assert(!html.includes(tmp) && !html.includes('/tmp/'), 'a server path is in the page');
  await page.screenshot({ path: path.join(shots, 'upload.png'), fullPage: true });
});

await check('several photos give a grid, errors in words', async () => {
  const blue = path.join(tmp, 'blue.png'), text = path.join(tmp, 'notes.txt');
  fs.writeFileSync(blue, png(16, 16, [10, 20, 230]));
  fs.writeFileSync(text, 'not a photo');
  await page.goto(url + '/upload');
  await page.setInputFiles('#file', [photo, blue, text]);
  await page.waitForFunction(() => window.knnUpload.finished() === 3, null, { timeout: 10000 });
  assert((await page.locator('.card').count()) === 3, 'three cards expected');
  const answers = await page.locator('.answer').allTextContents();
  assert(answers.join() === 'cat,dog', `answers: ${answers}`);
  const why = await page.textContent('.card.error .why');
  assert(/image/i.test(why), `the error: ${why}`);
  await page.screenshot({ path: path.join(shots, 'upload-grid.png'), fullPage: true });
});

await check('a dropped photo and a pasted one are classified like a chosen one', async () => {
  await page.goto(url + '/upload');
  const bytes = [...fs.readFileSync(photo)];
  for (const how of ['drop', 'paste']) {
    const before = await page.evaluate(() => window.knnUpload.finished());
    await page.evaluate(([b, how]) => {
      const dt = new DataTransfer();
      dt.items.add(new File([new Uint8Array(b)], 'red.png', { type: 'image/png' }));
      if (how === 'drop') window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      else document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true }));
    }, [bytes, how]);
    await page.waitForFunction((n) => window.knnUpload.finished() > n, before, { timeout: 10000 });
    assert((await page.textContent('#answer')) === 'cat', `${how}: not a cat`);
  }
});

await check('Fashion-MNIST photos: the right classes, their nearest images', async () => {
  const data = '/usr/share/datasets/fashion-mnist';
  if (!fs.existsSync(path.join(data, 't10k-images-idx3-ubyte.gz'))) {
    console.log('     (Fashion-MNIST is not installed: no Fashion-MNIST screenshot)');
    return;
  }
  const fm = path.join(tmp, 'fashion.knn');
  await run(['fit', 'fashion-mnist:train', '--train-limit', '20000', '-k', '5', '-o', fm, '-q']);
  const images = zlib.gunzipSync(fs.readFileSync(path.join(data, 't10k-images-idx3-ubyte.gz')));
  const files = [0, 1, 2].map((i) => {
    const f = path.join(tmp, `test-${i}.png`);
    fs.writeFileSync(f, png(28, 28, (x, y) => { const v = images[16 + 784 * i + 28 * y + x]; return [v, v, v]; }));
    return f;
  });
  const second = await serve([fm]);
  try {
    await page.goto(second.url + '/upload');
    await page.setInputFiles('#file', files);
    await page.waitForFunction(() => window.knnUpload.finished() === 3, null, { timeout: 20000 });
    await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 10000 });
    const answers = await page.locator('.answer').allTextContents();
    assert(answers.join() === 'Ankle boot,Pullover,Trouser', `answers: ${answers}`);
    await page.screenshot({ path: path.join(shots, 'upload-fashion.png'), fullPage: true });
  } finally {
    second.proc.kill('SIGTERM');
  }
});

await check('class names from folders are shown as text, never run as HTML', async () => {
  const evil = '<img src=x onerror=window.__xss=1>';
  for (const [name, rgb] of [[evil, [230, 20, 20]], ['plain', [20, 30, 220]]]) {
    fs.mkdirSync(path.join(tmp, 'hostile', name), { recursive: true });
    for (let i = 0; i < 3; i++)
      fs.writeFileSync(path.join(tmp, 'hostile', name, `${i}.png`), png(9 + i, 8, rgb));
  }
  const hostile = path.join(tmp, 'hostile.knn');
  await run(['fit', path.join(tmp, 'hostile'), '-o', hostile, '-k', '3', '--size', '8', '-q']);
  const second = await serve([hostile]);
  try {
    await page.goto(second.url + '/upload');
    await page.setInputFiles('#file', photo);
    await page.waitForSelector('#answer', { timeout: 10000 });
    assert((await page.textContent('#answer')) === evil, `answer: ${await page.textContent('#answer')}`);
    assert((await page.textContent('#top')).includes(evil), 'the name is missing from the top classes');
    await page.waitForTimeout(300); // an injected onerror would have run by now
    assert(await page.evaluate(() => window.__xss === undefined), 'the class name ran as HTML');
    assert(await page.evaluate(() => document.querySelectorAll('img[src="x"]').length === 0),
      'the class name made an <img>');
    await page.screenshot({ path: path.join(shots, 'upload-hostile-name.png') });
  } finally {
    second.proc.kill('SIGTERM');
  }
});

await check('on a 400 px wide touch screen the demo fits and a finger drags a point', async () => {
  const phone = await browser.newContext({ viewport: { width: 400, height: 860 }, hasTouch: true, isMobile: true });
  const p = await phone.newPage();
  try {
    await p.goto(url + '/');
    await p.waitForFunction(() => window.knnDemo && window.knnDemo.renders() > 0, null, { timeout: 10000 });
    const width = await p.evaluate(() => document.scrollingElement.scrollWidth);
    assert(width <= 400, `the page is ${width} px wide`);
    const box = await p.locator('#plane').boundingBox();
    assert(box.width <= 400 && box.width >= 300, `canvas ${box.width} px`);
    const pts = await p.evaluate(() => window.knnDemo.points());
    const g0 = await p.evaluate(() => window.knnDemo.grid().join(''));
    const a = pts[0], b = pts.find((q) => q.label !== a.label);
    const cdp = await phone.newCDPSession(p);
    const touch = (type, x, y) => cdp.send('Input.dispatchTouchEvent', {
      type, touchPoints: type === 'touchEnd' ? [] : [{ x, y }] });
    const before = await p.evaluate(() => window.knnDemo.renders());
    const x0 = box.x + a.x * box.width, y0 = box.y + a.y * box.height;
    const x1 = box.x + b.x * box.width + 10, y1 = box.y + b.y * box.height + 10;
    await touch('touchStart', x0, y0);
    for (let i = 1; i <= 8; i++) await touch('touchMove', x0 + (x1 - x0) * i / 8, y0 + (y1 - y0) * i / 8);
    await touch('touchEnd');
    await p.waitForFunction((n) => window.knnDemo.renders() > n, before, { timeout: 10000 });
    await p.waitForTimeout(300);
    const moved = await p.evaluate(() => window.knnDemo.points()[0]);
    assert(Math.abs(moved.x - a.x) > 0.05 || Math.abs(moved.y - a.y) > 0.05, 'the point did not move');
    assert((await p.evaluate(() => window.knnDemo.grid().join(''))) !== g0, 'the colouring did not change');
    await p.screenshot({ path: path.join(shots, 'demo-phone.png'), fullPage: true });
  } finally {
    await phone.close();
  }
});

await browser.close();
proc.kill('SIGTERM');
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
