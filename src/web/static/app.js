// rayleigh dashboard: plain browser JavaScript, no build step, no libraries (it ships to the board as is).
(() => {
  // The token travels only in the Authorization header. It is given once in the URL fragment
  // (#token=…, never sent to the server), kept for this tab, and removed from the address bar.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem('rayleigh-token', fromHash);
    window.history.replaceState(null, '', location.pathname + location.search);
  }
  // a token typed into the address bar changes only the fragment: no reload happens by itself
  window.addEventListener('hashchange', () => {
    if (new URLSearchParams(location.hash.slice(1)).get('token')) location.reload();
  });
  const token = sessionStorage.getItem('rayleigh-token');
  const authHeaders = () => (token ? { Authorization: `Bearer ${token}` } : {});
  const MAX_VIEW = 384;
  const HISTORY = 150;

  function apiUrl(path, params) {
    const s = new URLSearchParams(params || {}).toString();
    return s ? `${path}?${s}` : path;
  }

  const $ = (id) => document.getElementById(id);
  const fmt = (v, digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? '—' : Number(v).toFixed(digits));

  // ---- images -------------------------------------------------------------------------------
  let loading = false;
  let pendingMeta = null;

  async function fetchBitmap(path, params) {
    const res = await fetch(apiUrl(path, params), { cache: 'no-store', headers: authHeaders() });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    const seq = Number(res.headers.get('X-Rayleigh-Seq'));
    const bitmap = await createImageBitmap(await res.blob());
    return { bitmap, seq };
  }

  function fitCanvas(canvas, w, h) {
    const k = Math.min(MAX_VIEW / w, MAX_VIEW / h);
    canvas.width = Math.max(1, Math.round(w * k));
    canvas.height = Math.max(1, Math.round(h * k));
    return k;
  }

  function drawMarks(ctx, points, k, color, radius) {
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    for (const p of points) {
      ctx.beginPath();
      ctx.arc(p.x * k, p.y * k, radius, 0, 2 * Math.PI);
      ctx.stroke();
    }
  }

  // localisations arrive as columns (docs/mqtt.md): {count, x: [], y: [], photons: [], peak: []}
  function points(cols) {
    const out = [];
    for (let i = 0; i < cols.count; i++) out.push({ x: cols.x[i], y: cols.y[i] });
    return out;
  }

  function drawLayer(canvas, bitmap, meta, cameraToCanvas, place) {
    const ctx = canvas.getContext('2d');
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const at = place ?? ((ps) => ps);
    if ($('show-truth').checked && meta.truth) drawMarks(ctx, at(meta.truth), cameraToCanvas, '#66bb6a', 6);
    if ($('show-loc').checked) drawMarks(ctx, at(points(meta.localizations)), cameraToCanvas, '#ff5252', 4);
  }

  // nanohole models: the output is the 2.5λ position map around the optical axis, not the camera
  // grid; camera px → map fraction (0..1) through the meta's camera geometry
  function onMap(holes) {
    const { pitch, centre } = holes.camera;
    const e = holes.grid.extent;
    return (ps) => ps.map((p) => ({ x: ((p.x - centre.x) * pitch) / e + 0.5, y: ((p.y - centre.y) * pitch) / e + 0.5 }));
  }

  let lastBitmaps = null;

  function render() {
    if (!lastBitmaps) return;
    const { frame, output, meta } = lastBitmaps;
    const kf = fitCanvas($('frame'), frame.width, frame.height);
    // localisations are in camera pixels; both pictures are previews binned to fit the page
    drawLayer($('frame'), frame, meta, kf * (frame.width / meta.input.width));
    const ko = fitCanvas($('output'), output.width, output.height);
    if (meta.holes) drawLayer($('output'), output, meta, ko * output.width, onMap(meta.holes));
    else drawLayer($('output'), output, meta, ko * (output.width / meta.input.width));
  }

  async function loadImages(meta) {
    if (loading) {
      pendingMeta = meta;
      return;
    }
    loading = true;
    try {
      const params = { stream: meta.stream };
      const [frame, output] = await Promise.all([fetchBitmap('/api/frame.png', params), fetchBitmap('/api/output.png', params)]);
      // the server may have moved on between the two requests; show only a matching pair
      if (frame.seq === output.seq) {
        const shown = frame.seq === meta.seq ? meta : await fetchMeta(meta.stream);
        if (shown && shown.seq === frame.seq) {
          lastBitmaps = { frame: frame.bitmap, output: output.bitmap, meta: shown };
          render();
          showMeta(shown);
        }
      }
    } catch (err) {
      $('cmd-result').textContent = String(err.message || err);
    } finally {
      loading = false;
      if (pendingMeta) {
        const next = pendingMeta;
        pendingMeta = null;
        loadImages(next);
      }
    }
  }

  async function fetchMeta(stream) {
    const res = await fetch(apiUrl('/api/latest', { stream }), { cache: 'no-store', headers: authHeaders() });
    return res.ok ? res.json() : null;
  }

  function showMeta(meta) {
    $('seq').textContent = String(meta.seq);
    $('stream').textContent = meta.stream;
    $('nloc').textContent = String(meta.localizations.count);
    $('latency-now').textContent = fmt(meta.timings.total);
    $('frame-size').textContent = `${meta.input.width}×${meta.input.height}`;
    $('output-size').textContent = `${meta.output.width}×${meta.output.height} (×${meta.scale})`;
  }

  // ---- accumulated render (…/accumulated: on its schedule, or on request with the button) ----
  let accumulatedLoading = false;
  let accumulatedNext = null;

  async function loadAccumulated(meta) {
    if (accumulatedLoading) {
      accumulatedNext = meta;
      return;
    }
    accumulatedLoading = true;
    try {
      const { bitmap, seq } = await fetchBitmap('/api/accumulated.png', { stream: meta.stream });
      const canvas = $('accumulated');
      fitCanvas(canvas, bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      canvas.dataset.seq = String(seq);
      canvas.dataset.trigger = meta.trigger;
      const r = meta.region;
      $('acc-info').textContent =
        `${meta.localizations} localisations of ${meta.frames} frame${meta.frames === 1 ? '' : 's'} · ${r.width}×${r.height} at ${r.x},${r.y} · ${meta.trigger} (seq ${meta.seq})`;
    } catch (err) {
      $('cmd-result').textContent = String(err.message || err);
    } finally {
      accumulatedLoading = false;
      if (accumulatedNext) {
        const next = accumulatedNext;
        accumulatedNext = null;
        loadAccumulated(next);
      }
    }
  }

  // ---- charts -------------------------------------------------------------------------------
  const history = { fpsIn: [], fpsOut: [], fpsDrop: [], p50: [], p99: [] };

  function pushHistory(key, v) {
    const a = history[key];
    a.push(v === null || v === undefined ? null : v);
    if (a.length > HISTORY) a.shift();
  }

  function drawChart(canvas, series) {
    const ctx = canvas.getContext('2d');
    const w = canvas.width;
    const h = canvas.height;
    const padL = 40;
    const padB = 4;
    ctx.clearRect(0, 0, w, h);
    ctx.fillStyle = '#0d0f11';
    ctx.fillRect(0, 0, w, h);
    let max = 0;
    for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
    max = max > 0 ? niceCeil(max) : 1;
    ctx.strokeStyle = '#2b2f35';
    ctx.fillStyle = '#8a9099';
    ctx.font = '10px system-ui';
    for (let i = 0; i <= 4; i++) {
      const y = padB + ((h - 2 * padB) * i) / 4;
      ctx.beginPath();
      ctx.moveTo(padL, y);
      ctx.lineTo(w, y);
      ctx.stroke();
      const tick = (max * (4 - i)) / 4;
      ctx.fillText(fmt(tick, Number.isInteger(tick) ? 0 : 1), 2, y + 3);
    }
    const step = (w - padL) / (HISTORY - 1);
    for (const s of series) {
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      let pen = false;
      const offset = HISTORY - s.values.length;
      s.values.forEach((v, i) => {
        if (v === null) {
          pen = false;
          return;
        }
        const x = padL + (offset + i) * step;
        const y = h - padB - (v / max) * (h - 2 * padB);
        if (pen) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
        pen = true;
      });
      ctx.stroke();
    }
  }

  function niceCeil(v) {
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // ---- health -------------------------------------------------------------------------------
  function setChip(id, text, state) {
    const el = $(id);
    el.textContent = text;
    if (state) el.dataset.state = state;
    else delete el.dataset.state;
  }

  function fillRows(tbody, rows) {
    tbody.replaceChildren(
      ...rows.map((cells) => {
        const tr = document.createElement('tr');
        for (const c of cells) {
          const td = document.createElement('td');
          td.textContent = c;
          tr.appendChild(td);
        }
        return tr;
      }),
    );
  }

  function showHealth(h) {
    if (h.error) return;
    $('device').textContent = h.deviceId || '';
    setChip(
      'model',
      h.model ? `model ${h.model.id} (${h.model.provider}) ${h.model.hash.slice(0, 8)}` : 'no model',
      h.model ? 'ok' : 'bad',
    );
    if (h.broker)
      setChip(
        'broker',
        `broker ${h.broker.state}${h.broker.spoolMessages ? `, spool ${h.broker.spoolMessages}` : ''}`,
        h.broker.connected ? 'ok' : 'bad',
      );
    setChip('uptime', `up ${formatDuration(h.uptimeSeconds)}${h.streaming ? '' : ' · stopped'}`);
    setChip('version', `v${h.version}`);

    pushHistory('fpsIn', h.frames.inPerSecond);
    pushHistory('fpsOut', h.frames.outPerSecond);
    pushHistory('fpsDrop', h.frames.droppedPerSecond);
    pushHistory('p50', h.latencyMs.total.p50);
    pushHistory('p99', h.latencyMs.total.p99);
    drawChart($('chart-fps'), [
      { values: history.fpsIn, color: '#90a4ae' },
      { values: history.fpsOut, color: '#4fc3f7' },
      { values: history.fpsDrop, color: '#ef5350' },
    ]);
    drawChart($('chart-latency'), [
      { values: history.p50, color: '#66bb6a' },
      { values: history.p99, color: '#ffb74d' },
    ]);

    fillRows(
      $('stages').tBodies[0],
      Object.entries(h.latencyMs).map(([stage, q]) => [stage, fmt(q.p50), fmt(q.p95), fmt(q.p99)]),
    );
    fillRows(
      $('devices').tBodies[0],
      h.devices.map((d) => [d.name, d.ok ? 'ok' : 'FAULT', String(d.faults), d.lastFault || '']),
    );
    const sys = [
      ['frames in/out/dropped', `${h.frames.in} / ${h.frames.out} / ${h.frames.dropped}`],
      ['queue depth', String(h.queueDepth)],
      ['camera restarts', String(h.camera.restarts)],
      ['RSS', `${fmt(h.process.rssBytes / 1048576)} MiB`],
      ['event-loop lag p99', h.process.eventLoopLagMs ? `${fmt(h.process.eventLoopLagMs.p99)} ms` : '—'],
      ['self-test', h.selfTest ? `${fmt(h.selfTest.score, 3)} at ${new Date(h.selfTest.at).toLocaleTimeString()}` : '—'],
    ];
    if (h.system) {
      sys.push(['CPU temperature', h.system.cpuTemperatureC === null ? '—' : `${fmt(h.system.cpuTemperatureC)} °C`]);
      const t = h.system.throttling;
      if (t) {
        const now = ['underVoltage', 'freqCapped', 'throttled', 'softTempLimit'].filter((k) => t[k]);
        const past = ['underVoltageOccurred', 'freqCappedOccurred', 'throttledOccurred', 'softTempLimitOccurred'].filter((k) => t[k]);
        sys.push(['throttling now', now.join(', ') || 'none']);
        sys.push(['throttling since boot', past.join(', ') || 'none']);
      }
    }
    fillRows($('system').tBodies[0], sys);
  }

  function formatDuration(s) {
    if (s < 120) return `${Math.round(s)} s`;
    if (s < 7200) return `${Math.round(s / 60)} min`;
    if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} d`;
  }

  // ---- commands -----------------------------------------------------------------------------
  for (const button of document.querySelectorAll('button[data-cmd]')) {
    button.addEventListener('click', async () => {
      const name = button.dataset.cmd;
      button.disabled = true;
      $('cmd-result').textContent = `${name}…`;
      try {
        const headers = { 'Content-Type': 'application/json', ...authHeaders() };
        const res = await fetch(`/api/cmd/${encodeURIComponent(name)}`, { method: 'POST', headers, body: '{}' });
        const body = await res.json();
        $('cmd-result').textContent =
          body.status === 'ok' ? `${name}: ok${body.data === undefined ? '' : ` ${JSON.stringify(body.data)}`}` : `${name}: ${body.error}`;
      } catch (err) {
        $('cmd-result').textContent = `${name}: ${err.message || err}`;
      } finally {
        button.disabled = false;
      }
    });
  }
  $('show-loc').addEventListener('change', render);
  $('show-truth').addEventListener('change', render);

  // ---- live updates -------------------------------------------------------------------------
  // Server-sent events read with fetch: EventSource cannot send an Authorization header.
  function dispatch(block) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (!data.length) return;
    const payload = JSON.parse(data.join('\n'));
    if (event === 'health') showHealth(payload);
    else if (event === 'result') loadImages(payload);
    else if (event === 'accumulated') loadAccumulated(payload);
  }

  async function connect() {
    for (;;) {
      try {
        const res = await fetch('/api/events', { cache: 'no-store', headers: authHeaders() });
        if (res.status === 401) {
          setChip('conn', token ? 'token rejected' : 'token required: open with #token=…', 'bad');
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        setChip('conn', 'live', 'ok');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i = buf.indexOf('\n\n');
          while (i >= 0) {
            dispatch(buf.slice(0, i));
            buf = buf.slice(i + 2);
            i = buf.indexOf('\n\n');
          }
        }
      } catch {
        // network error or the daemon restarting: retry below
      }
      setChip('conn', 'reconnecting…', 'bad');
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  connect();
})();
