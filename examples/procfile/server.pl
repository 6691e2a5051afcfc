# A tiny HTTP server in the run image's own perl (perl-base): the app needs no language buildpack.
use strict;
use warnings;
use IO::Socket::INET;

my $port = $ENV{PORT} || 8080;
my $host = $ENV{HOST} || "0.0.0.0";
my $server = IO::Socket::INET->new(LocalAddr => $host, LocalPort => $port, Listen => 10, ReuseAddr => 1)
  or die "listen on $host:$port: $!";
$| = 1;
print "listening on $host:$port\n";
while (my $c = $server->accept) {
  while (my $line = <$c>) { last if $line =~ /^\r?\n$/ }
  my $body = "Hello from berth's Procfile example (perl $^V)\n";
  print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
  close $c;
}
