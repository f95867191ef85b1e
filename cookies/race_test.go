//go:build race

package cookies_test

const raceEnabled = true
