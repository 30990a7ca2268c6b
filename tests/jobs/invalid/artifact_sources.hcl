# Artifact sources supd cannot fetch are refused with the reason (hg, s3, gcs,
# archives it does not unpack, relative file URLs, a git depth that is no number,
# git's own ext:: helper), as are bad checksums, modes and destinations outside the task directory.
#
# expect: 27:18 error: depth "deep" is not a whole number of commits — write e.g. depth=1
# expect: 31:18 error: "git::ext::sh -c true" names git's remote helper `ext::` — supd runs git only on https://, http://, ssh://, git:// and file:/// URLs, user@host:path and github.com/OWNER/REPO
# expect: 35:18 error: supd does not fetch a Mercurial repository (go-getter's `hg` getter) — fetch http://, https://, file:/// or an absolute path; publish the files over HTTP or put them on this host
# expect: 39:18 error: supd does not fetch an S3 bucket (go-getter's `s3` getter) — fetch http://, https://, file:/// or an absolute path; publish the files over HTTP or put them on this host
# expect: 43:18 error: supd does not fetch a Google Cloud Storage bucket (go-getter's `gcs` getter) — fetch http://, https://, file:/// or an absolute path; publish the files over HTTP or put them on this host
# expect: 47:23 error: supd does not unpack .tar.bz2 files — use .tar.gz, .tgz, .tar.xz, .tar or .zip, or add ?archive=false to keep the file as it is
# expect: 48:23 error: destination "../../x" is outside the task directory — write a path under local/, secrets/ or tmp/ (or ${NOMAD_ALLOC_DIR}/ for the group's shared alloc/)
# expect: 49:23 error: invalid mode "folder" — use one of "any", "file", "dir"
# expect: 53:18 error: a sha256 checksum has 64 hex digits, "abcd" has 4
# expect: 58:9 error: options.checksum: unknown checksum type "crc32" — use md5, sha1, sha256 or sha512
# expect: 64:18 error: file source "file://relative/web.tgz" needs an absolute path — write file:///path/to/file
# expect: 67:7 error: artifact has no `source` — add e.g. source = "https://example.com/app.tar.gz"

job "web" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "local/web"
      }

      artifact {
        source = "git::https://github.com/example/web?depth=deep"
      }

      artifact {
        source = "git::ext::sh -c true"
      }

      artifact {
        source = "hg::https://example.com/web"
      }

      artifact {
        source = "s3::https://s3.amazonaws.com/bucket/web.tar.gz"
      }

      artifact {
        source = "gcs::https://www.googleapis.com/storage/v1/bucket/web.tgz"
      }

      artifact {
        source      = "https://example.com/web.tar.bz2"
        destination = "../../x"
        mode        = "folder"
      }

      artifact {
        source = "https://example.com/web.tar.gz?checksum=sha256:abcd"
      }

      artifact {
        source = "https://example.com/web.tar.gz"
        options {
          checksum = "crc32:00ff00ff"
        }
      }

      artifact {
        source = "file://relative/web.tgz"
      }

      artifact {
        destination = "local/"
      }
    }
  }
}
