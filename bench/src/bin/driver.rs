//! Benchmark driver: plays the KCL MultiLangDaemon's side over real pipes
//! against any record-processor command line, and measures the child.
//!
//! Per run: spawn the child, send `initialize`, K `processRecords` batches
//! (pre-generated, Jackson-style compact JSON), answer every checkpoint
//! request, send `shardEnded` (answering the child's SHARD_END checkpoint),
//! read VmHWM, close stdin, wait for exit and take the child's rusage from
//! wait4. Message generation happens before the child is spawned.
//!
//! Usage:
//!   kcl-bench-driver [--quick] [--runs N] [--runs-of NAME=N] [--workloads a,b,..] [--out FILE]
//!                    [--tmp-root DIR] [--timeout-s S] [--write-chunk BYTES]
//!                    [--custom PER_BATCH:BATCHES]
//!                    --proc NAME=COMMAND LINE [--proc ...]
//!   kcl-bench-driver --dump DIR [--quick] [--workloads a,b,..]
//!     writes each workload's initialize and processRecords lines to DIR/<name>.jsonl
//!     (the input of bench/stage.py) and one JSON summary line per workload to stdout
//! --custom adds the workload "custom": BATCHES batches of PER_BATCH records of 200 B
//! (bench/dynamodb-sink.sh sizes it to what an emulated table takes in a run).
//! The command line is split on runs of spaces (like the daemon's
//! ProcessBuilder); `{tmp}` is replaced by a fresh per-run directory, which
//! is measured (bytes written) and deleted after the run.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

// ---------------------------------------------------------------- workloads

#[derive(Clone, Debug)]
struct Workload {
    name: &'static str,
    /// size of each record's (decoded) data, a JSON body {"data":"..."}
    body_bytes: usize,
    per_batch: usize,
    batches: usize,
    /// records sharing one sequence number (sub-sequence 0..run-1); 1 = plain
    kpl_run: usize,
}

fn workloads(quick: bool) -> Vec<Workload> {
    let b = |full: usize, q: usize| if quick { q } else { full };
    vec![
        Workload {
            name: "200B",
            body_bytes: 200,
            per_batch: 10_000,
            batches: b(10, 3),
            kpl_run: 1,
        },
        Workload {
            name: "200B-b500",
            body_bytes: 200,
            per_batch: 500,
            batches: b(100, 40),
            kpl_run: 1,
        },
        Workload {
            name: "1KB",
            body_bytes: 1024,
            per_batch: 5_000,
            batches: b(10, 3),
            kpl_run: 1,
        },
        Workload {
            name: "100KB",
            body_bytes: 100 * 1024,
            per_batch: 100,
            batches: b(10, 3),
            kpl_run: 1,
        },
        Workload {
            name: "1MB",
            body_bytes: 1024 * 1024,
            per_batch: 10,
            batches: b(20, 5),
            kpl_run: 1,
        },
        Workload {
            name: "kpl200B",
            body_bytes: 200,
            per_batch: 10_000,
            batches: b(10, 3),
            kpl_run: 100,
        },
    ]
}

struct Messages {
    initialize: String,
    batches: Vec<String>,
    shard_ended: String,
    records: usize,
    data_bytes: usize,
    wire_bytes: usize,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

const SEQ_PREFIX: &str = "4959033827149025660855969253836157109592157"; // 43 digits

fn generate(w: &Workload) -> Messages {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ w.body_bytes as u64);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -_.:,";
    // A pool of filler text; each record takes a slice at a random offset.
    let pool_len = (w.body_bytes * 2).max(1 << 16);
    let pool: Vec<u8> = (0..pool_len)
        .map(|_| ALPHABET[(rng.next() % ALPHABET.len() as u64) as usize])
        .collect();
    let filler_len = w.body_bytes.saturating_sub(12); // {"data":""} is 11 bytes + 1 spare
    let engine = base64::engine::general_purpose::STANDARD;
    let mut body: Vec<u8> = Vec::with_capacity(w.body_bytes);
    let mut batches = Vec::with_capacity(w.batches);
    let mut record_index: u64 = 0;
    let mut data_bytes = 0usize;
    let mut wire_bytes = 0usize;
    let b64_len = w.body_bytes.div_ceil(3) * 4;
    for batch in 0..w.batches {
        let mut line = String::with_capacity(w.per_batch * (b64_len + 200) + 100);
        line.push_str("{\"action\":\"processRecords\",\"records\":[");
        for i in 0..w.per_batch {
            let seq_counter = record_index / w.kpl_run as u64;
            let sub = record_index % w.kpl_run as u64;
            let off = (rng.next() as usize) % (pool_len - filler_len + 1);
            body.clear();
            body.extend_from_slice(b"{\"data\":\"");
            body.extend_from_slice(&pool[off..off + filler_len]);
            body.extend_from_slice(b"\"}");
            while body.len() < w.body_bytes {
                body.push(b'\n');
            }
            data_bytes += body.len();
            if i > 0 {
                line.push(',');
            }
            line.push_str("{\"data\":\"");
            engine.encode_string(&body, &mut line);
            line.push_str(&format!(
                "\",\"partitionKey\":\"pk-{:05}\",\"sequenceNumber\":\"{}{:013}\",\"approximateArrivalTimestamp\":{},\"subSequenceNumber\":{},\"action\":\"record\"}}",
                rng.next() % 100_000,
                SEQ_PREFIX,
                1_000_000 + seq_counter,
                1_700_000_000_000u64 + record_index,
                sub
            ));
            record_index += 1;
        }
        line.push_str(&format!(
            "],\"millisBehindLatest\":{}}}\n",
            1000 * (w.batches - batch)
        ));
        wire_bytes += line.len();
        batches.push(line);
    }
    Messages {
        initialize: "{\"action\":\"initialize\",\"shardId\":\"shardId-000000000000\",\"sequenceNumber\":\"TRIM_HORIZON\",\"subSequenceNumber\":0}\n".to_string(),
        batches,
        shard_ended: "{\"action\":\"shardEnded\"}\n".to_string(),
        records: record_index as usize,
        data_bytes,
        wire_bytes,
    }
}

// ---------------------------------------------------------------- one run

struct Proc {
    name: String,
    argv: Vec<String>,
}

#[derive(Default)]
struct RunStats {
    spawn_to_first_status_ms: f64,
    wall_s: f64,
    batch_rtt_ms: Vec<f64>,
    cpu_user_us: f64,
    cpu_sys_us: f64,
    cpu_at_first_status_us: f64,
    vm_hwm_kb: u64,
    vm_rss_kb: u64,
    checkpoints: Vec<(Value, Value)>,
    exit_code: i32,
    eof_to_exit_ms: f64,
    stderr_bytes: usize,
    stderr_tail: String,
    stdout_leftover_lines: usize,
    tmp_bytes: u64,
}

fn proc_status_kb(pid: i32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix(key) {
            let rest = rest.trim_start_matches(':').trim();
            return rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        }
    }
    0
}

/// CPU time (user+sys, all threads, ns precision) of another live process.
fn process_cpu_us(pid: i32) -> f64 {
    unsafe {
        let mut clk: libc::clockid_t = 0;
        if libc::clock_getcpuclockid(pid, &mut clk) != 0 {
            return f64::NAN;
        }
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::clock_gettime(clk, &mut ts) != 0 {
            return f64::NAN;
        }
        ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Ok(m) = e.metadata() {
                if m.is_dir() {
                    total += dir_bytes(&e.path());
                } else {
                    total += m.len();
                }
            }
        }
    }
    total
}

struct Io {
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    line: String,
}

/// The size of each write to the child's stdin (0: a message in one write). The real
/// daemon's `BufferedWriter` over an `OutputStreamWriter` hands the pipe 8 KiB at a time;
/// one multi-megabyte write instead keeps the pipe's lock held while it copies, and the
/// child's reads spin on it.
static WRITE_CHUNK: AtomicUsize = AtomicUsize::new(8192);

impl Io {
    fn send(&mut self, msg: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        let chunk = match WRITE_CHUNK.load(Ordering::Relaxed) {
            0 => usize::MAX,
            n => n,
        };
        for piece in msg.as_bytes().chunks(chunk) {
            stdin
                .write_all(piece)
                .map_err(|e| format!("write to child failed: {e}"))?;
        }
        Ok(())
    }

    /// Reads child lines until a status arrives, answering checkpoints.
    fn await_status(&mut self, expect: &str, cps: &mut Vec<(Value, Value)>) -> Result<(), String> {
        loop {
            self.line.clear();
            let n = self
                .stdout
                .read_line(&mut self.line)
                .map_err(|e| format!("read from child failed: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "child closed stdout while waiting for status of {expect}"
                ));
            }
            let t = self.line.trim();
            if t.is_empty() {
                continue;
            }
            let v: Value = match serde_json::from_str(t) {
                Ok(v) => v,
                Err(_) => {
                    eprintln!("  (skipping unexpected line on child stdout: {:.200})", t);
                    continue;
                }
            };
            match v.get("action").and_then(Value::as_str) {
                Some("status") => {
                    let rf = v.get("responseFor").and_then(Value::as_str).unwrap_or("");
                    if rf != expect {
                        return Err(format!("status for {rf:?}, expected {expect:?}: {t}"));
                    }
                    return Ok(());
                }
                Some("checkpoint") => {
                    let seq = match v.get("sequenceNumber") {
                        Some(Value::String(s)) => Value::String(s.clone()),
                        Some(Value::Number(n)) => Value::String(n.to_string()),
                        _ => Value::Null,
                    };
                    let sub = match v.get("subSequenceNumber") {
                        Some(Value::Number(n)) => Value::Number(n.clone()),
                        Some(Value::String(s)) => {
                            s.parse::<u64>().map(Value::from).unwrap_or(Value::Null)
                        }
                        _ => Value::Null,
                    };
                    let reply = format!(
                        "{{\"action\":\"checkpoint\",\"sequenceNumber\":{},\"subSequenceNumber\":{},\"error\":null}}\n",
                        seq, sub
                    );
                    cps.push((seq, sub));
                    self.send(&reply)?;
                }
                _ => eprintln!(
                    "  (skipping unexpected message on child stdout: {:.200})",
                    t
                ),
            }
        }
    }
}

fn run_once(
    p: &Proc,
    msgs: &Messages,
    n_batches: usize,
    tmp: &Path,
    timeout: Duration,
) -> Result<RunStats, String> {
    let _ = std::fs::remove_dir_all(tmp);
    std::fs::create_dir_all(tmp).map_err(|e| format!("mkdir {}: {e}", tmp.display()))?;
    let tmp_s = tmp.to_string_lossy().to_string();
    let argv: Vec<String> = p.argv.iter().map(|a| a.replace("{tmp}", &tmp_s)).collect();

    let mut st = RunStats::default();
    let t_spawn = Instant::now();
    let mut child: Child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {:?}: {e}", argv))?;
    let pid = child.id() as i32;

    // Watchdog: kills the child (never a reaped pid) if the run takes too long.
    let reaped = Arc::new(Mutex::new(false));
    let (cancel_tx, cancel_rx) = mpsc::channel::<()>();
    let wd = {
        let reaped = Arc::clone(&reaped);
        thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = cancel_rx.recv_timeout(timeout) {
                let g = reaped.lock().unwrap();
                if !*g {
                    eprintln!("  watchdog: killing pid {pid} after {timeout:?}");
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        })
    };
    let mut stderr = child.stderr.take().unwrap();
    let err_thread = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let mut io = Io {
        stdin: child.stdin.take(),
        stdout: BufReader::with_capacity(1 << 16, child.stdout.take().unwrap()),
        line: String::new(),
    };

    let protocol = (|| -> Result<(), String> {
        io.send(&msgs.initialize)?;
        io.await_status("initialize", &mut st.checkpoints)?;
        st.spawn_to_first_status_ms = t_spawn.elapsed().as_secs_f64() * 1e3;
        st.cpu_at_first_status_us = process_cpu_us(pid);
        let t_first = Instant::now();
        for batch in &msgs.batches[..n_batches] {
            let tb = Instant::now();
            io.send(batch)?;
            io.await_status("processRecords", &mut st.checkpoints)?;
            st.batch_rtt_ms.push(tb.elapsed().as_secs_f64() * 1e3);
        }
        st.wall_s = t_first.elapsed().as_secs_f64();
        io.send(&msgs.shard_ended)?;
        io.await_status("shardEnded", &mut st.checkpoints)?;
        st.vm_hwm_kb = proc_status_kb(pid, "VmHWM");
        st.vm_rss_kb = proc_status_kb(pid, "VmRSS");
        Ok(())
    })();
    if protocol.is_err() {
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    // EOF, then drain stdout to EOF (like the daemon), then wait.
    let t_eof = Instant::now();
    io.stdin = None;
    loop {
        io.line.clear();
        match io.stdout.read_line(&mut io.line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if !io.line.trim().is_empty() {
                    st.stdout_leftover_lines += 1;
                }
            }
        }
    }
    // Wait for exit without reaping, mark reaped under the lock, then reap with rusage.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        );
    }
    st.eof_to_exit_ms = t_eof.elapsed().as_secs_f64() * 1e3;
    *reaped.lock().unwrap() = true;
    drop(cancel_tx);
    let _ = wd.join();
    let mut status: libc::c_int = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if r != pid {
        return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()));
    }
    std::mem::forget(child); // already reaped; keep std from touching the pid
    st.exit_code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    st.cpu_user_us = ru.ru_utime.tv_sec as f64 * 1e6 + ru.ru_utime.tv_usec as f64;
    st.cpu_sys_us = ru.ru_stime.tv_sec as f64 * 1e6 + ru.ru_stime.tv_usec as f64;
    let err = err_thread.join().unwrap_or_default();
    st.stderr_bytes = err.len();
    let tail_start = err.len().saturating_sub(2000);
    st.stderr_tail = String::from_utf8_lossy(&err[tail_start..]).to_string();
    st.tmp_bytes = dir_bytes(tmp);
    let _ = std::fs::remove_dir_all(tmp);
    match protocol {
        Ok(()) => Ok(st),
        Err(e) => Err(format!(
            "{e}; exit {}; stderr tail: {}",
            st.exit_code, st.stderr_tail
        )),
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

// ---------------------------------------------------------------- main

fn usage() -> ! {
    eprintln!(
        "usage: kcl-bench-driver [--quick] [--runs N] [--workloads a,b] [--out FILE] [--tmp-root DIR] [--timeout-s S] [--write-chunk BYTES] [--runs-of NAME=N] [--custom PER_BATCH:BATCHES] --proc NAME=CMD ... | --dump DIR [--quick] [--workloads a,b]"
    );
    std::process::exit(2);
}

fn main() {
    let mut quick = false;
    let mut runs: Option<usize> = None;
    let mut only: Option<Vec<String>> = None;
    let mut out: Option<PathBuf> = None;
    let mut tmp_root = std::env::temp_dir().join("kcl-bench");
    let mut timeout = Duration::from_secs(600);
    let mut procs: Vec<Proc> = Vec::new();
    // A processor that may run fewer rounds than the others (Python takes minutes).
    let mut caps: Vec<(String, usize)> = Vec::new();
    // Only write each workload's messages to DIR/<workload>.jsonl, for bench/stage.py.
    let mut dump: Option<PathBuf> = None;
    let mut custom: Option<Workload> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).or_else(|| usage()),
            "--workloads" => {
                only = args
                    .next()
                    .map(|v| v.split(',').map(str::to_string).collect())
            }
            "--runs-of" => {
                let spec = args.next().unwrap_or_else(|| usage());
                let (name, n) = spec.split_once('=').unwrap_or_else(|| usage());
                caps.push((name.to_string(), n.parse().ok().unwrap_or_else(|| usage())));
            }
            "--dump" => dump = Some(args.next().map(PathBuf::from).unwrap_or_else(|| usage())),
            "--out" => out = args.next().map(PathBuf::from),
            "--custom" => {
                let spec = args.next().unwrap_or_else(|| usage());
                let (per_batch, batches) = spec.split_once(':').unwrap_or_else(|| usage());
                custom = Some(Workload {
                    name: "custom",
                    body_bytes: 200,
                    per_batch: per_batch.parse().ok().unwrap_or_else(|| usage()),
                    batches: batches.parse().ok().unwrap_or_else(|| usage()),
                    kpl_run: 1,
                });
            }
            "--tmp-root" => tmp_root = args.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            "--write-chunk" => WRITE_CHUNK.store(
                args.next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| usage()),
                Ordering::Relaxed,
            ),
            "--timeout-s" => {
                timeout = Duration::from_secs(
                    args.next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--proc" => {
                let spec = args.next().unwrap_or_else(|| usage());
                let (name, cmd) = spec.split_once('=').unwrap_or_else(|| usage());
                let argv: Vec<String> = cmd
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if argv.is_empty() {
                    usage();
                }
                procs.push(Proc {
                    name: name.to_string(),
                    argv,
                });
            }
            _ => usage(),
        }
    }
    if let Some(dir) = &dump {
        std::fs::create_dir_all(dir).expect("create the dump directory");
        for w in workloads(quick) {
            if only
                .as_ref()
                .is_some_and(|o| !o.iter().any(|n| n == w.name))
            {
                continue;
            }
            let msgs = generate(&w);
            let path = dir.join(format!("{}.jsonl", w.name));
            let mut text = msgs.initialize.clone();
            text.extend(msgs.batches.iter().map(String::as_str));
            std::fs::write(&path, text).expect("write the dump");
            println!(
                "{}",
                json!({"workload": w.name, "path": path, "records": msgs.records,
                       "data_bytes": msgs.data_bytes, "wire_bytes": msgs.wire_bytes})
            );
        }
        return;
    }
    if procs.is_empty() {
        usage();
    }
    let runs = runs.unwrap_or(if quick { 3 } else { 5 });
    let mut all: Vec<Value> = Vec::new();
    let mut chosen = workloads(quick);
    chosen.extend(custom);
    for w in chosen {
        if let Some(o) = &only {
            if !o.iter().any(|n| n == w.name) {
                continue;
            }
        }
        let tg = Instant::now();
        let msgs = generate(&w);
        eprintln!(
            "== workload {}: {} records of {} B in {} batches (kpl run {}), {:.1} MB decoded, {:.1} MB on the wire; generated in {:.2} s",
            w.name,
            msgs.records,
            w.body_bytes,
            w.batches,
            w.kpl_run,
            msgs.data_bytes as f64 / 1e6,
            msgs.wire_bytes as f64 / 1e6,
            tg.elapsed().as_secs_f64()
        );
        // One untimed warm-up per processor (page cache, Python's bytecode cache).
        for p in &procs {
            let tmp = tmp_root.join(format!("{}-{}-warmup", p.name, w.name));
            if let Err(e) = run_once(p, &msgs, 1, &tmp, timeout) {
                eprintln!("  warm-up of {} failed: {e}", p.name);
            }
        }
        let mut per_proc: Vec<Vec<Value>> = vec![Vec::new(); procs.len()];
        for run in 0..runs {
            // Interleave processors within each round, so drift hits all alike.
            for (pi, p) in procs.iter().enumerate() {
                if caps.iter().any(|(name, n)| *name == p.name && run >= *n) {
                    continue;
                }
                let tmp = tmp_root.join(format!("{}-{}-{}", p.name, w.name, run));
                let res = run_once(p, &msgs, msgs.batches.len(), &tmp, timeout);
                let v = match res {
                    Ok(mut st) => {
                        let cpu = st.cpu_user_us + st.cpu_sys_us;
                        let n = msgs.records as f64;
                        let rtt = median(&mut st.batch_rtt_ms);
                        eprintln!(
                            "  {:<8} run {}: {:>10.0} rec/s {:>8.3} us CPU/rec {:>7.2} MB HWM {:>7.2} ms to 1st status, {} checkpoint(s), exit {}",
                            p.name,
                            run,
                            n / st.wall_s,
                            cpu / n,
                            st.vm_hwm_kb as f64 / 1024.0,
                            st.spawn_to_first_status_ms,
                            st.checkpoints.len(),
                            st.exit_code
                        );
                        json!({
                            "ok": true,
                            "processor": p.name,
                            "workload": w.name,
                            "body_bytes": w.body_bytes,
                            "kpl_run": w.kpl_run,
                            "run": run,
                            "records": msgs.records,
                            "batches": msgs.batches.len(),
                            "data_bytes": msgs.data_bytes,
                            "wire_bytes": msgs.wire_bytes,
                            "wall_s": st.wall_s,
                            "records_per_s": n / st.wall_s,
                            "data_mb_per_s": msgs.data_bytes as f64 / 1e6 / st.wall_s,
                            "cpu_user_us": st.cpu_user_us,
                            "cpu_sys_us": st.cpu_sys_us,
                            "cpu_us_per_record": cpu / n,
                            "cpu_at_first_status_us": st.cpu_at_first_status_us,
                            "cpu_us_per_record_after_init": (cpu - st.cpu_at_first_status_us) / n,
                            "vm_hwm_kb": st.vm_hwm_kb,
                            "vm_rss_kb_before_eof": st.vm_rss_kb,
                            "spawn_to_first_status_ms": st.spawn_to_first_status_ms,
                            "batch_rtt_ms_median": rtt,
                            "batch_rtt_ms_max": st.batch_rtt_ms.last().copied().unwrap_or(f64::NAN),
                            "checkpoints": st.checkpoints.len(),
                            "checkpoint_requests": st.checkpoints.iter().map(|(s, b)| json!([s, b])).collect::<Vec<_>>(),
                            "exit_code": st.exit_code,
                            "eof_to_exit_ms": st.eof_to_exit_ms,
                            "stderr_bytes": st.stderr_bytes,
                            "stdout_leftover_lines": st.stdout_leftover_lines,
                            "tmp_bytes_written": st.tmp_bytes,
                        })
                    }
                    Err(e) => {
                        eprintln!("  {:<8} run {}: FAILED: {e}", p.name, run);
                        json!({"ok": false, "processor": p.name, "workload": w.name, "run": run, "error": e})
                    }
                };
                per_proc[pi].push(v.clone());
                all.push(v);
            }
        }
        drop(msgs);
        if let Some(path) = &out {
            // rewrite after every workload so partial results survive
            let _ = std::fs::write(path, serde_json::to_string_pretty(&all).unwrap());
        }
    }
    if let Some(path) = &out {
        std::fs::write(path, serde_json::to_string_pretty(&all).unwrap()).expect("write results");
        eprintln!("wrote {}", path.display());
    } else {
        println!("{}", serde_json::to_string_pretty(&all).unwrap());
    }
}
