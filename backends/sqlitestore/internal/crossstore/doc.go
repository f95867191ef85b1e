// Package crossstore holds the tests that move sessions between Redis,
// PostgreSQL and SQLite with backends/transfer. It is a module of its own
// so that neither store module requires the other's database driver.
package crossstore
