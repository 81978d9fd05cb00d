module fourlinks.example/tlogcheck

go 1.19

require golang.org/x/mod v0.0.0

// Debian's golang-golang-x-mod-dev: the build needs no network (make go-tools installs it).
replace golang.org/x/mod => /usr/share/gocode/src/golang.org/x/mod
