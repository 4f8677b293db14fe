//! The collection's action plugin on its own terms, with the real ansible-playbook (and a real
//! sshd): the binary cache it keeps on a host is checked from `/` down, as OpenSSH's StrictModes
//! checks a home dir, so a cache another local user (`nobody`) could swap is refused with a clear
//! error, and what runs is the file that was checked, so `nobody` replacing it in a loop never
//! gets a program run; a login shell that prints first does not hide the probe's output; a
//! database URL's password is masked in every form; the binary travels compressed and is
//! installed without a Python module (no AnsiballZ payload), and once it is cached a task is one
//! remote command without Python, check mode, diff, no_log and become included (async and `su`
//! take the module).

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt, chown, lchown, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::ansible::plays::{self, FQCN, INFO};
use crate::ansible::{assert_rotation_previewed, wrap_binary};
use crate::common::{Hermes, PASSWORD};
use crate::runners::on_localhost;
use crate::runners::{Ansible, Output, host_recap, module_binary, run, tool_in};
use crate::support::poll;

const REFUSED: &str = "refusing to use the hermes-relayhost binary cache";

/// A play against the fixture's root (its location options as `module_defaults` of the action
/// group) running `tasks`, with the variables `secrets` (in a vars file, as from a vault).
fn play(a: &Ansible, h: &Hermes, name: &str, secrets: Value, tasks: &[Value]) -> PathBuf {
    plays::tasks(a.path(), name, &secrets, Some(&h.base), tasks)
}

/// `relay_host` setting an authenticated relay with the password `{{ relay_password }}`.
fn relay_task() -> Value {
    json!({"name": "relay", FQCN: {"host": "smtp.example.com", "port": 587,
        "username": "relayuser", "password": "{{ relay_password }}"}})
}

fn password(value: &str) -> Value {
    json!({ "relay_password": value })
}

fn cache_var(dir: &Path) -> String {
    format!("hermes_relay_cache_dir={}", dir.display())
}

fn assert_no_password(out: &Output, secrets: &[&str]) {
    let all = out.all();
    for secret in secrets {
        assert!(!all.contains(secret), "{secret:?} leaked:\n{all}");
    }
}

/// `-vvv` lines of one kind (`EXEC`, `PUT`), and how often a Python module was used.
fn lines_with<'a>(out: &'a Output, what: &str) -> Vec<&'a str> {
    out.stdout.lines().filter(|l| l.contains(what)).collect()
}

/// How often the collection's Python module ran (async_status and the like not counted).
fn module_runs(out: &Output) -> usize {
    lines_with(out, "Using module file")
        .iter()
        .filter(|l| l.contains("hermes_seg/relay/plugins/modules/"))
        .count()
}

/// The name the binary has in a host's cache: its SHA-256's first 16 hex digits.
fn cached_name() -> String {
    let digest = Sha256::digest(fs::read(module_binary()).unwrap());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("hermes-relayhost-{}", &hex[..16])
}

/// `nobody`'s uid and gid.
fn nobody() -> (u32, u32) {
    let id = |flag: &str| {
        let out = run(Command::new("id").args([flag, "nobody"]));
        assert_eq!(out.code, 0, "no user nobody: {}", out.all());
        out.stdout.trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

/// A shell script run as `nobody` (no supplementary groups), stopped on drop.
struct AsNobody(Child);

impl AsNobody {
    fn spawn(script: &str) -> AsNobody {
        let (uid, gid) = nobody();
        let child = Command::new("setpriv")
            .args([
                &format!("--reuid={uid}"),
                &format!("--regid={gid}"),
                "--clear-groups",
                "--",
                "sh",
                "-c",
                script,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("setpriv (util-linux) runs a command as nobody");
        AsNobody(child)
    }
}

impl Drop for AsNobody {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The work dir made traversable, so that `nobody` reaches what a test gives it.
fn traversable(a: &Ansible) {
    fs::set_permissions(a.path(), fs::Permissions::from_mode(0o755)).unwrap();
}

fn mkdir(path: &Path, mode: u32) -> PathBuf {
    fs::create_dir_all(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    path.to_path_buf()
}

fn give_to_nobody(path: &Path) {
    let (uid, gid) = nobody();
    chown(path, Some(uid), Some(gid)).unwrap();
}

/// A program of `nobody`'s that records being run (as whoever runs it) and answers as a module
/// would: were the plugin ever to run it instead of the checked binary, `marker` would exist.
fn evil_program(dir: &Path, marker: &Path) -> PathBuf {
    let evil = dir.join("evil");
    fs::write(
        &evil,
        format!(
            "#!/bin/sh\ntouch {marker:?}\n\
             echo '{{\"changed\": false, \"failed\": false, \"msg\": \"evil ran\"}}'\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&evil, fs::Permissions::from_mode(0o755)).unwrap();
    give_to_nobody(&evil);
    evil
}

/// Every way another user could get the cache swapped is refused, before anything is created
/// or run, by the one-command run (its shell checks) and by the module (async: Python checks),
/// naming the directory and why; a sticky shared dir (as `/tmp`) is fine above a cache of ours.
#[test]
fn a_cache_another_user_could_swap_is_refused_with_the_reason() {
    let (a, h) = (Ansible::new(), Hermes::new());
    traversable(&a);
    let (uid, _) = nobody();
    let relay = play(&a, &h, "play.yml", password(PASSWORD), &[relay_task()]);
    let mut in_background = relay_task();
    in_background["async"] = json!(60);
    in_background["poll"] = json!(1);
    let background = play(&a, &h, "async.yml", password(PASSWORD), &[in_background]);
    let before = h.snapshot();

    let cases = a.path().join("cases");
    let owned = mkdir(&cases.join("owned-by-nobody"), 0o755);
    give_to_nobody(&owned);
    let open = mkdir(&cases.join("open"), 0o777);
    let squatted = mkdir(&cases.join("sticky-squatted"), 0o1777);
    give_to_nobody(&mkdir(&squatted.join("cache"), 0o700));
    // The cache var naming a shared dir itself (`/tmp` by mistake): not made private, refused.
    let tmp_like = mkdir(&cases.join("tmp-like"), 0o1777);
    fs::write(tmp_like.join("someone-else's"), "").unwrap();
    let linked = mkdir(&cases.join("sticky-link"), 0o1777);
    let ours = mkdir(&cases.join("ours"), 0o700);
    symlink(&ours, linked.join("cache")).unwrap();
    lchown(linked.join("cache"), Some(uid), None).unwrap();
    let refusals = [
        (
            owned.join("cache"),
            format!(
                "{} (uid {uid}, mode 0755) is owned by another user",
                owned.display()
            ),
        ),
        (
            owned.join("deeper/cache"),
            format!(
                "{} (uid {uid}, mode 0755) is owned by another user",
                owned.display()
            ),
        ),
        (
            open.join("cache"),
            format!(
                "{} (uid 0, mode 0777) is writable by group or others",
                open.display()
            ),
        ),
        (
            squatted.join("cache"),
            format!(
                "{}/cache (uid {uid}, mode 0700) is in the shared directory {} but is not owned \
                 and writable by uid 0 alone",
                squatted.display(),
                squatted.display()
            ),
        ),
        (
            linked.join("cache"),
            format!("{}/cache (uid {uid}, mode", linked.display()),
        ),
        (
            tmp_like.clone(),
            format!(
                "{} (uid 0, mode 1777) is writable by group or others and holds other files",
                tmp_like.display()
            ),
        ),
    ];
    // One host per case, each with its cache dir: one run of each play for all of them.
    let inventory = a.path().join("cases.yml");
    let hosts: serde_json::Map<String, Value> = refusals
        .iter()
        .enumerate()
        .map(|(i, (cache, _))| {
            let vars = json!({"ansible_connection": "local", "hermes_relay_cache_dir": cache});
            (format!("case{i}"), vars)
        })
        .collect();
    fs::write(&inventory, json!({"all": {"hosts": hosts}}).to_string()).unwrap();
    for (playbook, how) in [(&relay, "one command"), (&background, "module (async)")] {
        let out = run(a
            .command("ansible-playbook")
            .arg("-i")
            .arg(&inventory)
            .arg("-v")
            .arg(playbook));
        assert_no_password(&out, &[PASSWORD]);
        for (i, (cache, why)) in refusals.iter().enumerate() {
            let host = format!("case{i}");
            assert_eq!(host_recap(&out, &host)["failed"], 1, "{how}: {}", out.all());
            let shown = format!("{REFUSED} {}: {why}", cache.display());
            let reported = out.stdout.lines().any(|l| {
                l.starts_with(&format!("fatal: [{host}]"))
                    && l.contains(&shown)
                    && l.contains("set hermes_relay_cache_dir to such a directory")
            });
            assert!(reported, "{how}: {host} without {shown:?}:\n{}", out.all());
        }
    }
    assert!(!owned.join("cache").exists() && !owned.join("deeper").exists());
    assert!(!open.join("cache").exists());
    assert_eq!(
        fs::read_dir(&ours).unwrap().count(),
        0,
        "the link's target was used"
    );
    let tmp_mode = fs::metadata(&tmp_like).unwrap().permissions().mode() & 0o7777;
    assert_eq!(tmp_mode, 0o1777, "a shared dir was made private");
    assert_eq!(h.snapshot(), before, "a refused run changed the host");

    // A sticky shared dir above a cache of ours: created 0700, then used by one command.
    let shared = mkdir(&cases.join("sticky"), 0o1777);
    let cache = shared.join("cache");
    let out = a.playbook(&relay, &["-e", &cache_var(&cache)]);
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    let meta = fs::metadata(&cache).unwrap();
    assert_eq!((meta.permissions().mode() & 0o7777, meta.uid()), (0o700, 0));
    assert_eq!(
        fs::read(cache.join(cached_name())).unwrap(),
        fs::read(module_binary()).unwrap()
    );
    let out = a.playbook(&relay, &["-vvv", "-e", &cache_var(&cache)]);
    assert_eq!(host_recap(&out, "localhost")["ok"], 1, "{}", out.all());
    assert_eq!(module_runs(&out), 0, "{}", out.all());

    // The same cache once the dir above it is nobody's: refused, though the binary is there.
    give_to_nobody(&shared);
    let out = a.playbook(&relay, &["-v", "-e", &cache_var(&cache)]);
    assert!(
        out.stdout.contains(&format!(
            "{REFUSED} {}: {} (uid {uid}, mode 1777) is owned by another user",
            cache.display(),
            shared.display()
        )),
        "{}",
        out.all()
    );

    // A cache of ours that others could read is made private again, and used.
    let loose = mkdir(&cases.join("loose/cache"), 0o755);
    let out = a.playbook(&relay, &["-e", &cache_var(&loose)]);
    assert_eq!(host_recap(&out, "localhost")["failed"], 0, "{}", out.all());
    assert_eq!(
        fs::metadata(&loose).unwrap().permissions().mode() & 0o7777,
        0o700
    );
}

/// `nobody`'s attack (Perl, which Debian always has): exchanges DIR/cache and DIR/fake
/// atomically (renameat2 RENAME_EXCHANGE) as fast as it can, for two minutes at most, and
/// counts its attempts in TRIES.
const SWAPPER: &str = r#"use POSIX;
my ($dir, $tries) = @ARGV;
my %renameat2 = (x86_64 => 316, aarch64 => 276);
my $nr = $renameat2{(POSIX::uname())[4]} or die "renameat2: unknown architecture\n";
my ($cache, $fake) = ("$dir/cache", "$dir/fake");
my ($end, $n) = (time + 120, 0);
while (time < $end) {
    syscall($nr, -100, $cache, -100, $fake, 2);
    next if ++$n % 200;
    open(my $f, '>', "$tries.new") or die "$tries.new: $!\n";
    print $f $n;
    close $f;
    rename("$tries.new", $tries);
}
"#;

/// Runs a shell script as `nobody` to completion; panics when it fails.
fn as_nobody(script: &str) {
    let (uid, gid) = nobody();
    let out = run(Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
        ])
        .args(["--", "sh", "-c", script]));
    assert_eq!(out.code, 0, "as nobody: {script}\n{}", out.all());
}

/// `nobody` swaps the cache dir with a dir of theirs that holds their program under the
/// binary's name, in a loop while the tasks run: above our cache a sticky shared dir (as
/// /tmp: the swap always fails, every task runs the real binary), then a dir they can write
/// (the swap works: every task is refused). Their program never runs; on the plugin before
/// the fix (checked by path, run by path) the same attack got it run about once in 20 tasks.
#[test]
fn nobody_swapping_the_cached_binary_in_a_loop_never_gets_it_run() {
    let (a, h) = (Ansible::new(), Hermes::new());
    traversable(&a);
    let marker = a.path().join("evil-ran");
    let attacker = mkdir(&a.path().join("nobody"), 0o755);
    let swapper = attacker.join("swap.pl");
    fs::write(&swapper, SWAPPER).unwrap();
    give_to_nobody(&attacker);
    let evil = evil_program(&attacker, &marker);
    let name = cached_name();
    let tries = attacker.join("tries");
    let looped = |rounds: usize| {
        let task = json!({"name": "info", INFO: {}, "loop": (1..=rounds).collect::<Vec<_>>(),
                          "ignore_errors": true});
        play(&a, &h, &format!("loop-{rounds}.yml"), json!({}), &[task])
    };
    let tried = || {
        fs::read_to_string(&tries)
            .ok()
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    // The tasks run (`-v`, the cache given) while nobody swaps the cache in `dir` in a loop;
    // their program never runs.
    let under_attack = |dir: &Path, playbook: &Path, cache: &Path| {
        as_nobody(&format!(
            "mkdir {fake:?} && cp {evil:?} {fake:?}/{name} && rm -f {tries:?}",
            fake = dir.join("fake")
        ));
        let guard = AsNobody::spawn(&format!("exec perl {swapper:?} {dir:?} {tries:?}"));
        assert!(
            poll(Duration::from_secs(10), || (tried() > 0).then_some(())).is_some(),
            "nobody's loop did not start"
        );
        let start = tried();
        let out = a.playbook(playbook, &["-v", "-e", &cache_var(cache)]);
        let during = tried() - start;
        drop(guard);
        assert!(during > 0, "nobody's loop did not run during the tasks");
        assert!(!marker.exists(), "nobody's program ran:\n{}", out.all());
        out
    };
    let items = |out: &Output, what: &str| {
        out.stdout
            .lines()
            .filter(|l| l.contains("[localhost]") && l.contains("(item=") && l.contains(what))
            .count()
    };

    // A sticky shared dir (as /tmp) above our cache.
    let shared = mkdir(&a.path().join("shared"), 0o1777);
    let cache = shared.join("cache");
    let (rounds, playbook) = (6, looped(6));
    let out = a.playbook(&playbook, &["-e", &cache_var(&cache)]);
    assert_eq!(host_recap(&out, "localhost")["failed"], 0, "{}", out.all());
    let out = under_attack(&shared, &playbook, &cache);
    assert_eq!(items(&out, "all checks passed"), rounds, "{}", out.all());
    assert_eq!(fs::metadata(&cache).unwrap().uid(), 0, "the swap worked");

    // A dir above the cache that nobody can write; our cache there holds the real binary (put
    // there while the dir was still safe).
    let open = mkdir(&a.path().join("open"), 0o777);
    let cache = mkdir(&open.join("cache"), 0o700);
    fs::copy(module_binary(), cache.join(&name)).unwrap();
    fs::set_permissions(cache.join(&name), fs::Permissions::from_mode(0o700)).unwrap();
    let (rounds, playbook) = (20, looped(20));
    let out = under_attack(&open, &playbook, &cache);
    assert_eq!(
        items(&out, REFUSED),
        rounds,
        "every task is refused:\n{}",
        out.all()
    );
}

/// A private sshd on 127.0.0.1 (its own config, host key, port and log) whose sessions log in
/// as root with a HOME of their own, whose shell rc runs `login_script` first: what a motd or
/// profile script prints comes first in every command's output. Stopped (with the client's
/// master connection) on drop.
struct Sshd {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Sshd {
    fn start(dir: &Path, login_script: &str) -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: install openssh-server (scripts/install-test-deps.sh)"
        );
        let dir = mkdir(dir, 0o700);
        for key in ["host_key", "id"] {
            let out = run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key)));
            assert_eq!(out.code, 0, "{}", out.all());
        }
        fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
        // The session's HOME, whose .bashrc bash reads first: Debian's bash reads it when
        // started by sshd, any other through BASH_ENV (unset there, so that it is read once).
        let home = mkdir(&dir.join("home"), 0o755);
        fs::write(
            home.join(".bashrc"),
            format!("{login_script}unset BASH_ENV\n"),
        )
        .unwrap();
        // The privilege separation dir the packaged service would create.
        if !Path::new("/run/sshd").exists() {
            let _ = fs::create_dir_all("/run/sshd");
            let _ = fs::set_permissions("/run/sshd", fs::Permissions::from_mode(0o755));
        }
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let d = dir.display();
            fs::write(
                dir.join("sshd_config"),
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
                     PidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
                     PermitRootLogin prohibit-password\nPubkeyAuthentication yes\n\
                     PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                     StrictModes no\nPrintMotd no\nPrintLastLog no\n\
                     SetEnv HOME={d}/home BASH_ENV={d}/home/.bashrc\n\
                     Subsystem sftp internal-sftp\n"
                ),
            )
            .unwrap();
            let log = fs::File::create(dir.join("sshd.log")).unwrap();
            let mut child = Command::new(sshd)
                .args(["-D", "-e", "-f"])
                .arg(dir.join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap();
            let up = poll(Duration::from_secs(10), || {
                if child.try_wait().unwrap().is_some() {
                    return Some(false);
                }
                TcpStream::connect(("127.0.0.1", port)).ok().map(|_| true)
            });
            if up == Some(true) {
                return Sshd { dir, port, child };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "sshd did not start:\n{}",
            fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
    }

    fn control_path(&self) -> String {
        format!("{}/cm-%C", self.dir.display())
    }

    /// An inventory line for this sshd as host `name`.
    fn host(&self, name: &str) -> String {
        format!(
            "{name} ansible_connection=ssh ansible_host=127.0.0.1 ansible_port={} \
             ansible_user=root ansible_ssh_private_key_file={}/id \
             ansible_ssh_args='-C -o ControlMaster=auto -o ControlPersist=60s -o ControlPath={} \
             -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
             -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes'\n",
            self.port,
            self.dir.display(),
            self.control_path()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // The client's master connection (ControlPersist) first, so no session outlives sshd.
        let _ = Command::new("ssh")
            .args(["-O", "exit", "-o"])
            .arg(format!("ControlPath={}", self.control_path()))
            .args(["-p", &self.port.to_string(), "root@127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Over a real sshd whose sessions print first (a motd-like line on stdout, one on stderr,
/// which `ssh -tt` merges): the first run (the one-command probe, the upload, the install
/// command under a pty), a run of the cached binary and an async task (probe under a pty, then
/// the module) all work.
#[test]
fn a_login_shell_that_prints_first_does_not_hide_the_probe_over_ssh() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let sshd = Sshd::start(
        &a.path().join("ssh"),
        "echo 'Welcome to the Hermes test gateway'\necho 'Linux x86_64 is up'\n\
         echo 'system Windows NT'\necho 'cache refused by the banner' >&2\n",
    );
    let inventory = a.path().join("hosts.ini");
    fs::write(&inventory, sshd.host("gateway")).unwrap();
    let playbook = play(
        &a,
        &h,
        "play.yml",
        password(PASSWORD),
        &[
            relay_task(),
            json!({"name": "info", INFO: {}, "register": "info"}),
            json!({"name": "info in the background", INFO: {}, "async": 60, "poll": 1}),
        ],
    );
    let ansible = |args: &[&str]| {
        run(a
            .command("ansible-playbook")
            .arg("-i")
            .arg(&inventory)
            .arg(&playbook)
            .args(args))
    };

    // The login script does print, into the output of every command.
    let raw = run(a.command("ansible").arg("-i").arg(&inventory).args([
        "gateway",
        "-m",
        "ansible.builtin.raw",
        "-a",
        "uname -sm",
    ]));
    assert!(
        raw.stdout.contains("Welcome to the Hermes test gateway"),
        "{}",
        raw.all()
    );

    let out = ansible(&["-vvv"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let counts = host_recap(&out, "gateway");
    assert_eq!((counts["ok"], counts["failed"]), (3, 0), "{}", out.all());
    assert_eq!(module_runs(&out), 1, "only the async task takes the module");
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
    assert_no_password(&out, &[PASSWORD]);

    let before = h.snapshot();
    let out = ansible(&["-vvv"]);
    assert_eq!(out.code, 0, "{}", out.all());
    let counts = host_recap(&out, "gateway");
    assert_eq!((counts["ok"], counts["changed"]), (3, 0), "{}", out.all());
    // Only the async task took the module.
    assert_eq!(module_runs(&out), 1, "{}", out.all());
    assert_eq!(h.snapshot(), before);
}

/// What the binary were to print of a `database` URL is masked in every form of its password
/// (user info with `/` and `@`, percent-encoded, `?password=`, malformed URLs), by the
/// install command, the one-command run and the module. The fault (a binary that echoes the URL and the relay
/// password) is a wrapper around the real one.
#[test]
fn a_database_url_password_is_masked_in_every_form() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let python = tool_in(a.venv, "python");
    wrap_binary(&a, |real| {
        format!(
            "#!{}\nimport json, subprocess, sys\n\
             text = sys.stdin.read() if sys.argv[1] == '-' else open(sys.argv[1]).read()\n\
             args = json.loads(text)\n\
             out = subprocess.run([{real:?}, '-'], input=text, capture_output=True, text=True).stdout\n\
             result = json.loads(out)\n\
             result['msg'] += ' leaked: %s %s' % (args.get('database'), args.get('password'))\n\
             print(json.dumps(result))\n",
            python.display()
        )
    });

    let forms = [
        (
            "mysql://hermes:Ab/Sec@ret1@127.0.0.1:1/hermes",
            vec!["Ab/Sec@ret1"],
        ),
        (
            "mysql://hermes:Perc%40nt2@127.0.0.1:1/hermes",
            vec!["Perc%40nt2", "Perc@nt2"],
        ),
        (
            "mysql://hermes@127.0.0.1:1/hermes?password=QueryS3cret3",
            vec!["QueryS3cret3"],
        ),
        ("mysql://root:Malf0rmed4/hermes", vec!["Malf0rmed4"]),
        ("mysql//root:N0Scheme5@h/hermes", vec!["N0Scheme5"]),
    ];
    let secrets: Vec<&str> = forms
        .iter()
        .flat_map(|(_, s)| s.iter().copied())
        .chain([PASSWORD])
        .collect();
    let urls: Vec<&str> = forms.iter().map(|(url, _)| *url).collect();
    let task = |background: bool| {
        let mut task = json!({"name": "relay", FQCN: {"host": "smtp.example.com",
            "username": "relayuser", "password": "{{ relay_password }}",
            "database": "{{ urls[item] }}"},
            // The item is an index: ansible-core shows loop items itself.
            "loop": (0..forms.len()).collect::<Vec<_>>(), "ignore_errors": true});
        if background {
            task["async"] = json!(60);
            task["poll"] = json!(1);
        }
        task
    };
    let vars = json!({"relay_password": PASSWORD, "urls": urls});
    for (name, background) in [("direct.yml", false), ("async.yml", true)] {
        let playbook = play(&a, &h, name, vars.clone(), &[task(background)]);
        let out = a.playbook(&playbook, &["-vvv"]);
        assert!(
            out.stdout.matches("leaked: ").count() >= forms.len(),
            "the fault did not fire:\n{}",
            out.all()
        );
        assert_no_password(&out, &secrets);
        // The first item installed the binary (python -c) and ran it, the others ran it
        // directly; async takes the module each time.
        let expected = if background { forms.len() } else { 0 };
        assert_eq!(module_runs(&out), expected, "{}", out.all());
    }
}

/// The binary travels xz-compressed and the first run installs it with the target's Python but
/// no module (no AnsiballZ payload), also under `become`; once it is cached a task is one remote
/// command that runs it without Python (an interpreter that does not exist), in check mode with
/// diff, masked, and under `become` (sudo); `su`, which cannot feed a command's stdin, takes
/// the module.
#[test]
fn once_cached_a_task_is_one_command_without_python() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let tasks = [relay_task(), json!({"name": "info", INFO: {}})];
    let first = play(&a, &h, "first.yml", password(PASSWORD), &tasks);
    // One cache for every run, `become` (which changes HOME) included.
    let cache = a.path().join("home/.cache/hermes_seg.relay");
    let cache_arg = cache_var(&cache);
    let no_python = "ansible_python_interpreter=/nonexistent/bin/python3";
    // No Python to install with: a clear failure, nothing cached.
    let out = a.playbook(&first, &["-e", no_python, "-e", &cache_arg]);
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.stdout.contains(
            "no Python to install hermes-relayhost with on the target (tried: /nonexistent/bin/python3)"
        ),
        "{}",
        out.all()
    );
    assert!(!cache.join(cached_name()).exists());
    let out = a.playbook(&first, &["-vvv", "-e", &cache_arg]);
    assert_eq!(out.code, 0, "{}", out.all());
    let puts = lines_with(&out, "> PUT ");
    let binary_put: Vec<_> = puts
        .iter()
        .filter(|l| l.contains(".xz/hermes-relayhost TO "))
        .collect();
    assert_eq!(binary_put.len(), 1, "{}", out.all());
    let sent = binary_put[0]
        .split("> PUT ")
        .nth(1)
        .unwrap()
        .split(" TO ")
        .next()
        .unwrap();
    let (sent, whole) = (
        fs::metadata(sent).unwrap().len(),
        fs::metadata(module_binary()).unwrap().len(),
    );
    assert!(
        sent * 2 < whole,
        "{sent} bytes sent for a {whole}-byte binary"
    );
    assert_eq!(
        fs::read(cache.join(cached_name())).unwrap(),
        fs::read(module_binary()).unwrap()
    );
    assert_eq!(module_runs(&out), 0, "{}", out.all());
    // -vvv prints each command's lines; the install command's code is on one.
    assert_eq!(
        lines_with(&out, "b64decode(").len(),
        1,
        "one install command: {}",
        out.all()
    );

    let rotated = "n3w-Secret-R0tated";
    let rotate = play(&a, &h, "rotate.yml", password(rotated), &tasks);
    let before = h.snapshot();
    let out = a.playbook(
        &rotate,
        &[
            "--check", "--diff", "-vvv", "-e", no_python, "-e", &cache_arg,
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_rotation_previewed(&out);
    assert_eq!(lines_with(&out, "> EXEC ").len(), 2, "{}", out.all());
    assert!(lines_with(&out, "> PUT ").is_empty(), "{}", out.all());
    assert_eq!(module_runs(&out), 0, "{}", out.all());
    assert_no_password(&out, &[PASSWORD, rotated]);
    assert_eq!(h.snapshot(), before, "check mode wrote something");

    // As root already: become only because Ansible is told to become the same user.
    let with_become = |playbook: &Path, args: &[&str]| {
        run(on_localhost(
            a.command("ansible-playbook")
                .env("ANSIBLE_BECOME_ALLOW_SAME_USER", "true")
                .args(["-vvv", "--become"]),
            playbook,
            args,
        ))
    };
    let out = with_become(&rotate, &["-e", no_python, "-e", &cache_arg]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    let execs = lines_with(&out, "> EXEC ");
    assert_eq!(execs.len(), 2, "{}", out.all());
    assert!(execs.iter().all(|l| l.contains("sudo ")), "{}", out.all());
    assert_eq!(module_runs(&out), 0, "{}", out.all());
    assert_eq!(h.decrypted("relay_host_password"), rotated);
    assert_no_password(&out, &[PASSWORD, rotated]);

    let out = with_become(&first, &["--become-method", "su", "-e", &cache_arg]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    assert_eq!(module_runs(&out), 2, "{}", out.all());
    assert!(
        lines_with(&out, "> EXEC ")
            .iter()
            .any(|l| l.contains("su  root") || l.contains("su root")),
        "{}",
        out.all()
    );
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);

    // A first run under sudo: the install command, like the others, runs as the become user.
    let fresh = a.path().join("home/.cache/first-under-sudo");
    let out = with_become(&rotate, &["-e", &cache_var(&fresh)]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(host_recap(&out, "localhost")["changed"], 1, "{}", out.all());
    assert_eq!(module_runs(&out), 0, "{}", out.all());
    assert_eq!(lines_with(&out, "b64decode(").len(), 1, "{}", out.all());
    // The probe, the install and the run of the cached binary (the tmp dir is Ansible's).
    let ours = lines_with(&out, "umask 077");
    assert!(
        ours.len() == 3 && ours.iter().all(|l| l.contains("sudo ")),
        "{}",
        out.all()
    );
    assert_eq!(
        fs::read(fresh.join(cached_name())).unwrap(),
        fs::read(module_binary()).unwrap()
    );
    assert_eq!(h.decrypted("relay_host_password"), rotated);
    assert_no_password(&out, &[PASSWORD, rotated]);
}

/// With `ansible_python_interpreter: auto_silent` the install command takes Ansible's fallback
/// list (`ansible_interpreter_python_fallback`) and the first Python of it that exists.
#[test]
fn a_first_run_with_interpreter_discovery_takes_the_fallback_list() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let playbook = play(&a, &h, "play.yml", password(PASSWORD), &[relay_task()]);
    let cache = a.path().join("home/.cache/hermes_seg.relay");
    let fallback = json!(["/nonexistent/bin/python3", tool_in(a.venv, "python")]);
    let out = a.playbook(
        &playbook,
        &[
            "-vvv",
            "-e",
            "ansible_python_interpreter=auto_silent",
            "-e",
            &format!("{{\"ansible_interpreter_python_fallback\": {fallback}}}"),
            "-e",
            &cache_var(&cache),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(module_runs(&out), 0, "{}", out.all());
    let tried = lines_with(&out, "for hr_py in ");
    assert!(
        tried.len() == 1 && tried[0].contains("/nonexistent/bin/python3"),
        "{}",
        out.all()
    );
    assert!(cache.join(cached_name()).exists());
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
}

/// A target whose Python has no lzma module gets the binary gzip-compressed.
#[test]
fn a_target_python_without_lzma_gets_the_binary_gzipped() {
    let (a, h) = (Ansible::new(), Hermes::new());
    let shadow = mkdir(&a.path().join("no-lzma"), 0o755);
    fs::write(
        shadow.join("lzma.py"),
        "raise ImportError('this Python was built without liblzma')\n",
    )
    .unwrap();
    let interpreter = a.path().join("python-without-lzma");
    fs::write(
        &interpreter,
        format!(
            "#!/bin/sh\nPYTHONPATH={shadow:?} exec {:?} \"$@\"\n",
            tool_in(a.venv, "python")
        ),
    )
    .unwrap();
    fs::set_permissions(&interpreter, fs::Permissions::from_mode(0o755)).unwrap();
    let playbook = play(&a, &h, "play.yml", password(PASSWORD), &[relay_task()]);
    let out = a.playbook(
        &playbook,
        &[
            "-vvv",
            "-e",
            &format!("ansible_python_interpreter={}", interpreter.display()),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let puts = lines_with(&out, "> PUT ");
    let sent: Vec<_> = puts
        .iter()
        .filter(|l| l.contains("/hermes-relayhost TO "))
        .collect();
    assert_eq!(sent.len(), 2, "{}", out.all());
    assert!(
        sent[0].contains(".xz/") && sent[1].contains(".gz/"),
        "{}",
        out.all()
    );
    assert_eq!(h.decrypted("relay_host_password"), PASSWORD);
}
