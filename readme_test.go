package session_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// The README's option table lists every exported option of the manager
// (every exported function of the package that returns an Option).
func TestReadmeListsEveryOption(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "## Options")
	table, _, _ = strings.Cut(table, "\n## ")
	n := 0
	for _, f := range pkgs["session"].Files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !fn.Name.IsExported() || fn.Type.Results == nil || len(fn.Type.Results.List) != 1 {
				continue
			}
			if id, ok := fn.Type.Results.List[0].Type.(*ast.Ident); !ok || id.Name != "Option" {
				continue
			}
			n++
			if !strings.Contains(table, "| `"+fn.Name.Name+"(") {
				t.Errorf("README's option table does not list %s", fn.Name.Name)
			}
		}
	}
	if n < 20 {
		t.Fatalf("found only %d options: the test no longer finds them", n)
	}
}
