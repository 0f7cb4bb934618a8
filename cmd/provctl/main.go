// Command provctl is the ledger's command-line client. Parties use it to
// make keys, sign custody statements locally and submit them; buyers and
// auditors use it to read lots, checkpoints and proofs, and to verify a lot
// or an offline bundle trusting only the pinned log and registrar keys.
//
// Exit codes: 0 success; 1 the operation failed (rejected, unreachable,
// I/O); 2 usage error; 3 verification found flags; 4 verification failed
// (invalid signature or proof, rolled-back or forked log).
package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/antimony-ledger/provenance/record"
)

// Exit codes scripts can rely on.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitFlagged = 3
	exitInvalid = 4
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, e *env, args []string) error) {
	commands[name] = command{summary, run}
}

// boolFlags are the flags that take no value, for reading flags placed
// before the command.
var boolFlags = map[string]bool{"json": true, "sign-only": true, "seals-intact": true, "seals-broken": true, "no-check": true, "yes": true, "recovery": true, "none": true, "tls": true, "insecure": true, "h": true, "help": true}

// env is what a command reads from and writes to.
type env struct {
	stdout, stderr io.Writer
	// stdin is where answers to questions come from, and interactive
	// says whether a person is there to answer them (stdin is a
	// terminal): if not, provctl does not ask.
	stdin       io.Reader
	interactive bool
	lines       *bufio.Reader // stdin, buffered once for every question
}

// ask prints a question on stderr and returns the answer, trimmed and in
// lower case ("" at the end of input).
func (e *env) ask(question string) string {
	if e.lines == nil {
		e.lines = bufio.NewReader(e.stdin)
	}
	fmt.Fprint(e.stderr, question)
	line, _ := e.lines.ReadString('\n')
	return strings.ToLower(strings.TrimSpace(line))
}

// exitError carries an exit code other than exitFailed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErr(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runIO(ctx, args, os.Stdin, isTerminal(os.Stdin), stdout, stderr)
}

// runIO is run with stdin given, and whether a person answers on it.
func runIO(ctx context.Context, args []string, stdin io.Reader, interactive bool, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	// Flags may also come before the command: "provctl --json lot L1".
	var lead []string
	for len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "--" {
		f := strings.TrimLeft(args[0], "-")
		lead, args = append(lead, args[0]), args[1:]
		if !strings.Contains(f, "=") && !boolFlags[f] && len(args) > 0 {
			lead, args = append(lead, args[0]), args[1:]
		}
	}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	// Two-word commands: "bundle export", "proof inclusion".
	if _, ok := commands[name]; !ok && len(rest) > 0 {
		if _, ok := commands[name+" "+rest[0]]; ok {
			name, rest = name+" "+rest[0], rest[1:]
		}
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "provctl: unknown command %q (see provctl help)\n", name)
		return exitUsage
	}
	// Everything provctl prints goes through printable: text from a
	// server, a record or a bundle cannot rewrite the terminal.
	stdout, stderr = printable{stdout}, printable{stderr}
	err := cmd.run(ctx, &env{stdout: stdout, stderr: stderr, stdin: stdin, interactive: interactive}, append(lead, rest...))
	if err == nil {
		return exitOK
	}
	if ee, ok := err.(*exitError); ok {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintf(stderr, "provctl %s: %v\n", name, ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "provctl %s: %v\n", name, describe(err))
	return exitFailed
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: provctl COMMAND [flags]  (provctl COMMAND -h for a command's flags)")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nenvironment: PROVCTL_ADDR, PROVCTL_KEY, PROVCTL_PARTY, PROVCTL_REGISTRAR_KEY,")
	fmt.Fprintln(w, "PROVCTL_LOG_KEY, PROVCTL_REGISTRAR_PUB, PROVCTL_STATE, PROVCTL_TLS_CA,")
	fmt.Fprintln(w, "PROVCTL_TLS_SERVER_NAME, PROVCTL_TLS, PROVCTL_INSECURE (flags win).")
	fmt.Fprintln(w, "transport: TLS if --tls-ca, --tls-server-name or --tls is given or --addr is not")
	fmt.Fprintln(w, "loopback; plaintext to loopback, or anywhere with --insecure.")
	fmt.Fprintln(w, "exit codes: 0 ok, 1 failed, 2 usage, 3 verified with flags, 4 verification failed.")
}

// printable writes what it is given with every control, format and
// separator character that could hide or rearrange text on a terminal
// (record.UnsafeRune) escaped, but for newlines and tabs, which provctl
// writes itself. (In JSON output the escapes \u00XX and \u2XXX are the
// same characters; raw C0 controls never reach it: JSON encoders escape
// them.)
type printable struct{ w io.Writer }

func (p printable) Write(b []byte) (int, error) {
	s := string(b)
	if _, _, bad := record.UnsafeRune(strings.NewReplacer("\n", "", "\t", "").Replace(s)); !bad && utf8.ValidString(s) {
		return p.w.Write(b)
	}
	var out strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\ufffd") {
		if r == '\n' || r == '\t' {
			out.WriteRune(r)
		} else {
			out.WriteString(record.Printable(string(r)))
		}
	}
	if _, err := io.WriteString(p.w, out.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}
