package sessiongin_test

import (
	"testing"

	"github.com/sessionkit/session/internal/adaptertest"
)

// adapter is this module's router (router_test.go) for the scenarios that
// every adapter module shares.
var adapter = adaptertest.Adapter{NewRouter: newRouter, WriteCases: writeCases}

// TestScenarios runs the shared scenarios of package internal/adaptertest,
// each as a subtest (TestScenarios/TestAnonymousCart and so on).
func TestScenarios(t *testing.T) { adaptertest.Run(t, adapter) }
