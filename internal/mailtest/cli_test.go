package mailtest

import (
	"strings"
	"testing"
)

func TestCLIHappyPath(t *testing.T) {
	s := start(t, StartCLI, Options{})
	c := dial(t, s.Addr())
	c.exact(CLIWelcome + "<login> ")
	c.send("GET VERSION\r\n")
	c.exact("10.6.30|Linux|x86_64\r\n+OK: command successful\r\n<login> ")
	c.send("bogus\r\n")
	c.exact("-ERR: Invalid command\r\n<login> ")
	c.send("USER admin\r\n")
	c.exact("<password> ")
	c.send("wrong\r\n")
	c.exact("-ERR: Authentication failed\r\n<login> ")
	c.send("user admin\r\n")
	c.exact("<password> ")
	c.send("adminpw\r\n")
	c.exact("+OK: Authentication successful\r\n<#> ")
	c.send("enter queue\r\n")
	c.exact("+OK: command successful\r\n<queue#> ")
	c.send("LIST\r\n")
	c.exact("The queue is empty\r\n+OK: command successful\r\n<queue#> ")
	c.send("BACK\r\n")
	c.exact("+OK: command successful\r\n<#> ")
	c.send("\r\n")
	c.exact("<#> ")
	c.send("EXIT\r\n")
	c.exact("+OK: have a nice day\r\n")
	c.closed()
}

func TestCLIPasswordWithSpaces(t *testing.T) {
	s := start(t, StartCLI, Options{})
	c := dial(t, s.Addr())
	c.exact(CLIWelcome + "<login> ")
	c.send("USER alice@example.test\r\n")
	c.exact("<password> ")
	c.send("s3cret pass\r\n")
	c.exact("+OK: Authentication successful\r\n<#> ")
}

func TestCLIHostileClients(t *testing.T) {
	s := start(t, StartCLI, Options{})
	t.Run("five failed logins close", func(t *testing.T) {
		c := dial(t, s.Addr())
		c.exact(CLIWelcome + "<login> ")
		for range cliMaxAuthFail - 1 {
			c.send("USER admin\r\nnope\r\n")
			c.exact("<password> -ERR: Authentication failed\r\n<login> ")
		}
		c.send("USER admin\r\nnope\r\n")
		c.exact("<password> -ERR: Authentication failed\r\n")
		c.closed()
	})
	t.Run("line too long", func(t *testing.T) {
		c := dial(t, s.Addr())
		c.exact(CLIWelcome + "<login> ")
		c.send(strings.Repeat("x", 5000) + "\r\n")
		c.exact("-ERR: Line too long\r\n")
		c.closed()
	})
	t.Run("QUIT", func(t *testing.T) {
		c := dial(t, s.Addr())
		c.exact(CLIWelcome + "<login> ")
		c.send("quit\r\n")
		c.exact("+OK: have a nice day\r\n")
		c.closed()
	})
}

func TestCLIRejectsTLS(t *testing.T) {
	if _, err := StartCLI(Options{TLS: TLSImplicit, Cert: testCerts(t)}); err == nil || !strings.Contains(err.Error(), "implicit") {
		t.Fatalf("StartCLI with TLS: err = %v", err)
	}
}
