module github.com/axprobe/axprobe

go 1.26.8
