package sqlitestore_test

import (
	"os"
	"strings"
	"testing"

	"github.com/sessionkit/session/backends/sqlitestore"
)

// TestSchemaPublished: docs/sql.md shows the schema SQL the store creates,
// for teams that run their own migrations.
func TestSchemaPublished(t *testing.T) {
	doc, err := os.ReadFile("../../docs/sql.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), sqlitestore.Schema("")) {
		t.Errorf("docs/sql.md does not contain sqlitestore.Schema(\"\"): update its schema section to:\n%s", sqlitestore.Schema(""))
	}
}
