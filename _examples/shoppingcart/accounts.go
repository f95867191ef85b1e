package main

import (
	"crypto/sha256"
	"crypto/subtle"
)

// demoAccounts are the shop's user accounts: user name and password. A
// real shop keeps password hashes (bcrypt, scrypt or argon2id) in a
// database; the session handling around the check is the same.
var demoAccounts = map[string]string{
	"alice": "wonderland",
	"bob":   "builder",
}

// checkPassword reports whether password is the password of username. It
// takes the same time for unknown users as for wrong passwords.
func checkPassword(username, password string) bool {
	want, known := demoAccounts[username]
	if !known {
		want = "\x00no such user"
	}
	a := sha256.Sum256([]byte(password))
	b := sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && known
}
