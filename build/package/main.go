// Command package builds axprobe's .deb and .rpm with nfpm (github.com/goreleaser/nfpm).
//
// It lives in its own Go module so that nfpm and its ~40 modules (go-git, PGP, rpm and
// compression libraries) are pinned in this directory's go.sum and never enter the main
// module's go.mod, which the daemon and the shim are built from. scripts/build-packages.sh
// builds the static binaries and runs it; docs/DEPLOY.md ("Packages") lists what goes where.
//
//	go run . --repo ../.. --bin ../../dist/bin --version 0.1.0 --out ../../dist
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	_ "github.com/goreleaser/nfpm/v2/rpm"
)

const usage = `Usage: go run ./build/package --repo DIR --bin DIR --version VERSION --out DIR [--formats deb,rpm]

Builds axprobe's Debian and RPM packages with nfpm from static binaries already built
(scripts/build-packages.sh builds them and calls this). The files taken from deploy/ are
rewritten for the packaged paths: /usr/local/bin/axprobe* becomes /usr/bin/axprobe*, and
/opt/axprobe/bin/ becomes /usr/libexec/axprobe/.

Examples:
  scripts/build-packages.sh                 # dist/axprobe_<version>_amd64.deb and .rpm
  go run . --repo ../.. --bin /tmp/bin --version 0.1.0 --out /tmp/dist --formats deb

Flags:
`

// versionRE is what both dpkg and rpm accept as an upstream version without surprises.
var versionRE = regexp.MustCompile(`^[0-9][0-9A-Za-z.+~]*$`)

func main() {
	fl := flag.NewFlagSet("package", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprint(os.Stderr, usage); fl.PrintDefaults() }
	repo := fl.String("repo", "", "root of the axprobe repository (deploy/, docs/, README.md)")
	bin := fl.String("bin", "", "directory holding the built axprobe and axprobe-monitor")
	version := fl.String("version", "", "package version, starting with a digit (e.g. 0.1.0 or 0.1.0~git20261201.1a89a87)")
	out := fl.String("out", "", "directory the packages are written to")
	formats := fl.String("formats", "deb,rpm", "comma-separated package formats")
	mtime := fl.Int64("mtime", 0, "modification time of every file, Unix seconds (default: $SOURCE_DATE_EPOCH, else now)")
	if err := fl.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2)
	}
	if *repo == "" || *bin == "" || *version == "" || *out == "" || fl.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "package: --repo, --bin, --version and --out are required, and nothing else")
		fl.Usage()
		os.Exit(2)
	}
	if !versionRE.MatchString(*version) {
		fmt.Fprintf(os.Stderr, "package: --version %q must start with a digit and hold only letters, digits, '.', '+' and '~'\n", *version)
		os.Exit(2)
	}
	when := time.Now().UTC()
	if *mtime != 0 {
		when = time.Unix(*mtime, 0).UTC()
	} else if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "package: SOURCE_DATE_EPOCH %q is not a number of seconds\n", s)
			os.Exit(2)
		}
		when = time.Unix(n, 0).UTC()
	}
	paths, err := build(*repo, *bin, *version, *out, strings.Split(*formats, ","), when)
	if err != nil {
		fmt.Fprintln(os.Stderr, "package:", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
}

// pathRewrites turns the paths of a from-source install, which the files under deploy/
// name, into the packaged ones.
var pathRewrites = strings.NewReplacer(
	"/usr/local/bin/axprobe", "/usr/bin/axprobe",
	"/opt/axprobe/bin/", "/usr/libexec/axprobe/",
)

// item is one file of the package: where it comes from (relative to the repository, or
// to --bin for binaries), where it goes, and how.
type item struct {
	src, dst string
	mode     fs.FileMode // 0: the source file's permission bits
	typ      string      // "" (plain file), files.TypeConfigNoReplace, files.TypeDir, files.TypeSymlink
	group    string      // "" = root
	rewrite  bool        // apply pathRewrites (text files from deploy/)
	binary   bool        // src is relative to --bin
}

// layout is the package's contents. docs/DEPLOY.md ("Packages") repeats it for operators.
func layout(repo string) ([]item, error) {
	items := []item{
		{src: "axprobe", dst: "/usr/bin/axprobe", mode: 0o755, binary: true},
		{src: "axprobe-monitor", dst: "/usr/bin/axprobe-monitor", mode: 0o755, binary: true},
		{src: "deploy/systemd/axprobe.service", dst: "/usr/lib/systemd/system/axprobe.service", mode: 0o644, rewrite: true},
		{dst: "/etc/axprobe", typ: files.TypeDir, mode: 0o750, group: "axprobe"},
		{src: "deploy/axprobe.example.yaml", dst: "/etc/axprobe/axprobe.yaml", mode: 0o640, group: "axprobe", typ: files.TypeConfigNoReplace, rewrite: true},
		{src: "deploy/pacemaker/axigen", dst: "/usr/lib/ocf/resource.d/axprobe/axigen", mode: 0o755, rewrite: true},
		// VCS looks for the agent of type Axigen in $VCS_HOME/bin/Axigen; AxigenAgent is the
		// script agent framework (deploy/vcs/README.md, step 2).
		{src: "/opt/VRTSvcs/bin/Script51Agent", dst: "/opt/VRTSvcs/bin/Axigen/AxigenAgent", typ: files.TypeSymlink},
		{src: "deploy/vcs/axigen-vcs-init", dst: "/usr/libexec/axprobe/axigen-vcs-init", mode: 0o755, rewrite: true},
		{src: "deploy/vcs/README.md", dst: "/usr/share/doc/axprobe/vcs/README.md", mode: 0o644, rewrite: true},
		{src: "README.md", dst: "/usr/share/doc/axprobe/README.md", mode: 0o644, rewrite: true},
	}
	// Every entry point of the VCS agent, and every example file of deploy/ beside it.
	globs := []struct{ pattern, dstDir string }{
		{"deploy/vcs/Axigen/*", "/opt/VRTSvcs/bin/Axigen"},
		{"deploy/vcs/*.cf", "/usr/share/axprobe/vcs"},
		{"deploy/prometheus/*.yml", "/usr/share/axprobe/prometheus"},
		{"deploy/prometheus/fleet/*.yml", "/usr/share/axprobe/prometheus/fleet"},
		{"deploy/prometheus/fleet/axprobe.d/*.yml", "/usr/share/axprobe/prometheus/fleet/axprobe.d"},
		{"deploy/grafana/*.json", "/usr/share/axprobe/grafana"},
		{"docs/*.md", "/usr/share/doc/axprobe"},
		{"docs/img/*", "/usr/share/doc/axprobe/img"},
	}
	for _, g := range globs {
		matches, err := filepath.Glob(filepath.Join(repo, g.pattern))
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%s matches no file under %s", g.pattern, repo)
		}
		for _, m := range matches {
			if strings.HasSuffix(m, "_test.yml") { // promtool's unit tests, not for nodes
				continue
			}
			rel, _ := filepath.Rel(repo, m)
			text := !strings.HasSuffix(m, ".png")
			items = append(items, item{src: rel, dst: g.dstDir + "/" + filepath.Base(m), rewrite: text})
		}
	}
	return items, nil
}

// build stages the files (rewritten where asked) and writes one package per format.
func build(repo, bin, version, out string, formats []string, mtime time.Time) ([]string, error) {
	items, err := layout(repo)
	if err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp("", "axprobe-package-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)

	var contents files.Contents
	for i, it := range items {
		c := &files.Content{Destination: it.dst, Type: it.typ, FileInfo: &files.ContentFileInfo{
			Owner: "root", Group: "root", Mode: it.mode, MTime: mtime,
		}}
		if it.group != "" {
			c.FileInfo.Group = it.group
		}
		switch it.typ {
		case files.TypeDir:
			c.FileInfo.Mode |= fs.ModeDir
		case files.TypeSymlink:
			c.Source = it.src
			c.FileInfo.Mode = 0
		default:
			src := filepath.Join(repo, it.src)
			if it.binary {
				src = filepath.Join(bin, it.src)
			}
			staged, mode, err := stageFile(src, filepath.Join(stage, strconv.Itoa(i)), it.rewrite)
			if err != nil {
				return nil, err
			}
			c.Source = staged
			if c.FileInfo.Mode == 0 {
				c.FileInfo.Mode = mode
			}
		}
		contents = append(contents, c)
	}

	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, format := range formats {
		info := packageInfo(repo, version, mtime, contents)
		packager, err := nfpm.Get(format)
		if err != nil {
			return nil, err
		}
		info = nfpm.WithDefaults(info)
		if err := nfpm.PrepareForPackager(info, format); err != nil {
			return nil, fmt.Errorf("%s: %w", format, err)
		}
		path := filepath.Join(out, packager.ConventionalFileName(info))
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		if err := packager.Package(info, f); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", format, err)
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		written = append(written, path)
	}
	return written, nil
}

// stageFile copies src to dst, with pathRewrites applied when rewrite is set, and returns
// dst and src's permission bits (0755 for executables, else 0644).
func stageFile(src, dst string, rewrite bool) (string, fs.FileMode, error) {
	st, err := os.Stat(src)
	if err != nil {
		return "", 0, err
	}
	if !st.Mode().IsRegular() {
		return "", 0, fmt.Errorf("%s is not a regular file", src)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return "", 0, err
	}
	if rewrite {
		if bytes.IndexByte(b, 0) >= 0 {
			return "", 0, fmt.Errorf("%s is binary; only text files are rewritten", src)
		}
		b = []byte(pathRewrites.Replace(string(b)))
	}
	mode := fs.FileMode(0o644)
	if st.Mode().Perm()&0o111 != 0 {
		mode = 0o755
	}
	return dst, mode, os.WriteFile(dst, b, 0o600)
}

// packageInfo is the package's metadata; contents are copied because nfpm rewrites them
// for each format.
func packageInfo(repo, version string, mtime time.Time, contents files.Contents) *nfpm.Info {
	cs := make(files.Contents, len(contents))
	for i, c := range contents {
		cc := *c
		fi := *c.FileInfo
		cc.FileInfo = &fi
		cs[i] = &cc
	}
	scripts := func(name string) string { return filepath.Join(repo, "deploy/package", name) }
	return &nfpm.Info{
		Name:          "axprobe",
		Arch:          "amd64",
		Platform:      "linux",
		Version:       version,
		VersionSchema: "none",
		Release:       "1",
		Section:       "net",
		Priority:      "optional",
		Maintainer:    "axprobe maintainers <axprobe@example.com>",
		Vendor:        "axprobe",
		Homepage:      "https://github.com/axprobe/axprobe",
		License:       "Proprietary",
		Description: "Health-probe daemon for clustered Axigen mail servers\n" +
			"axprobe probes every Axigen listener on the service VIP with real protocol\n" +
			"clients, checks the node's local facts (VIP, process, shared storage) and\n" +
			"answers Veritas Cluster Server or Pacemaker through axprobe-monitor in a\n" +
			"millisecond. Includes the systemd unit, the VCS agent, the OCF agent,\n" +
			"Prometheus rules and a Grafana dashboard.",
		MTime:           mtime,
		DisableGlobbing: true,
		Overridables: nfpm.Overridables{
			Contents: cs,
			Suggests: []string{"resource-agents"},
			Scripts: nfpm.Scripts{
				PreInstall:  scripts("preinstall.sh"),
				PostInstall: scripts("postinstall.sh"),
				PreRemove:   scripts("preremove.sh"),
				PostRemove:  scripts("postremove.sh"),
			},
			RPM: nfpm.RPM{
				Group:     "System Environment/Daemons",
				Summary:   "Health-probe daemon for clustered Axigen mail servers",
				BuildHost: "axprobe-build", // not this machine's name: the same commit, the same package
			},
		},
	}
}
