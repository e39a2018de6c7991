// Command render-krew-template renders a krew-release-bot template (.krew.yaml) the way
// krew-release-bot does (Go text/template, with its `addURIAndSha` and `indent` functions
// and the tag in `.TagName`), offline: instead of downloading each archive to hash it, the
// sha256 is taken from -sha, or computed from the file of the same name in -archives.
//
// krew-release-bot is not served by the Go module proxy, so its template functions are
// mirrored here from its pkg/source/template.go: addURIAndSha(url, tag) renders url as a
// template with .TagName and .Version and returns "uri: URL\n    sha256: HEX".
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
)

// The values krew-release-bot passes to the template (its source.ReleaseRequest).
type releaseRequest struct {
	TagName     string
	PluginOwner string
	PluginRepo  string
}

func main() {
	templateFile := flag.String("template", ".krew.yaml", "the krew-release-bot template")
	tag := flag.String("tag", "", "the release tag, e.g. v0.1.0")
	sha := flag.String("sha", "", "the sha256 to write for every archive")
	archives := flag.String("archives", "", "a folder holding the archives, hashed by name")
	owner := flag.String("owner", "", "the repository owner (.PluginOwner)")
	repo := flag.String("repo", "", "the repository name (.PluginRepo)")
	flag.Parse()
	if *tag == "" || (*sha == "") == (*archives == "") {
		fmt.Fprintln(os.Stderr, "usage: render-krew-template -template FILE -tag TAG (-sha HEX | -archives DIR)")
		os.Exit(2)
	}
	hashOf := func(uri string) (string, error) {
		if *sha != "" {
			return *sha, nil
		}
		file, err := os.Open(filepath.Join(*archives, path.Base(uri)))
		if err != nil {
			return "", err
		}
		defer file.Close()
		digest := sha256.New()
		if _, err := io.Copy(digest, file); err != nil {
			return "", err
		}
		return hex.EncodeToString(digest.Sum(nil)), nil
	}
	var failed error
	funcs := template.FuncMap{
		"indent": func(spaces int, v string) string {
			v = strings.ReplaceAll(v, "    sha256:", "sha256:")
			pad := strings.Repeat(" ", spaces)
			return strings.TrimSpace(pad + strings.ReplaceAll(v, "\n", "\n"+pad))
		},
		"addURIAndSha": func(url, tag string) string {
			inner, err := template.New("url").Parse(url)
			if err != nil {
				failed = err
				return ""
			}
			var uri bytes.Buffer
			values := struct{ TagName, Version string }{tag, versionFromTag(tag)}
			if err := inner.Execute(&uri, values); err != nil {
				failed = err
				return ""
			}
			hash, err := hashOf(uri.String())
			if err != nil {
				failed = err
				return ""
			}
			return fmt.Sprintf("uri: %s\n    sha256: %s", uri.String(), hash)
		},
	}
	t, err := template.New(filepath.Base(*templateFile)).Funcs(funcs).ParseFiles(*templateFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var out bytes.Buffer
	err = t.Execute(&out, releaseRequest{TagName: *tag, PluginOwner: *owner, PluginRepo: *repo})
	if err == nil {
		err = failed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(out.Bytes())
}

func versionFromTag(tag string) string {
	if v := regexp.MustCompile(`\d+(\.\d+)+`).FindString(tag); v != "" {
		return v
	}
	return tag
}
