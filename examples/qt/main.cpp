// Example: a Qt console client of m7bridged (QLocalSocket + QJsonDocument). Watches
// frames and link states, prints them, and reconnects whenever the daemon restarts;
// gives up with a clear message when no daemon answers after a bounded number of tries.
// Usage: m7watch-qt [--socket PATH] [--port N] [--count N] [--hex] [--retries N]
#include <QByteArray>
#include <QElapsedTimer>
#include <QCommandLineParser>
#include <QCoreApplication>
#include <QFile>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLocalSocket>
#include <QTextStream>
#include <QTimer>

#include <climits>
#include <cstdio>
#include <cstdlib>

// The payload safe for a terminal: hex bytes, or text with control bytes escaped (a
// capture's own "\n" must not become a blank line, nor raw bytes move the cursor).
static QString showBytes(const QByteArray &data, bool hex)
{
	if (hex)
		return QString::fromLatin1(data.toHex(' '));
	QString s = "\"";
	for (const char ch : data) {
		const unsigned char b = static_cast<unsigned char>(ch);
		if (b == '\n')
			s += "\\n";
		else if (b == '\r')
			s += "\\r";
		else if (b == '\t')
			s += "\\t";
		else if (b == '\\' || b == '"')
			s += QString("\\") + QChar(b);
		else if (b >= 0x20 && b < 0x7f)
			s += QChar(b);
		else
			s += QString("\\x%1").arg(b, 2, 16, QChar('0'));
	}
	return s + "\"";
}

int main(int argc, char **argv)
{
	QCoreApplication app(argc, argv);
	QCoreApplication::setApplicationName("m7watch-qt");

	QCommandLineParser cli;
	cli.setApplicationDescription("Watch frames and states from m7bridged.");
	const QCommandLineOption help = cli.addHelpOption();
	QString dflt = qEnvironmentVariable("M7BRIDGE_SOCKET", "/run/m7bridge/m7bridge.sock");
	cli.addOption({"socket", "Daemon socket.", "path", dflt});
	cli.addOption({"port", "Only frames of this UART port.", "n"});
	cli.addOption({"count", "Exit after this many frames.", "n", "0"});
	cli.addOption({"hex", "Payloads as hex bytes, not text."});
	cli.addOption({"retries", "Tries to connect before giving up.", "n", "10"});
	// Not process(): it exits 1 on a bad option, and a usage error is status 2 here.
	if (!cli.parse(QCoreApplication::arguments())) {
		std::fprintf(stderr, "m7watch-qt: %s (try --help)\n", qPrintable(cli.errorText()));
		return 2;
	}
	if (cli.isSet(help))
		cli.showHelp(0);

	// A number out of range (or no number: toInt() would read it as 0) is a usage error.
	auto number = [&](const QString &name, int low, int high) {
		bool ok = false;
		const int v = cli.value(name).toInt(&ok);
		if (!ok || v < low || v > high) {
			std::fprintf(stderr, "m7watch-qt: --%s takes %d..%d, not '%s'\n",
				     qPrintable(name), low, high, qPrintable(cli.value(name)));
			std::exit(2);
		}
		return v;
	};
	const QString path = cli.value("socket");
	// What a Unix socket address holds: a longer path would fail every try.
	const qsizetype pathBytes = QFile::encodeName(path).size();
	if (pathBytes < 1 || pathBytes > 107) {
		std::fprintf(stderr,
			     "m7watch-qt: --socket takes a path of 1..107 bytes, not %lld\n",
			     static_cast<long long>(pathBytes));
		return 2;
	}
	const int port = cli.isSet("port") ? number("port", 0, 255) : -1;
	const int count = number("count", 0, INT_MAX);
	const bool hex = cli.isSet("hex");
	const int retries = number("retries", 1, INT_MAX);
	int frames = 0, tries = 0;
	// Connected only once the daemon took the watch: one with no slot for us sends
	// VERSION too, then its refusal (an ERROR without id), and closes.
	bool accepted = false, refused = false;
	QString release;
	bool done = false; // set before a normal exit: the closing socket is no news then
	QTextStream out(stdout);
	// retry outlives sock: the socket's destructor still emits stateChanged.
	QTimer retry;
	QLocalSocket sock;
	retry.setSingleShot(true);
	retry.setInterval(1000);

	QObject::connect(&retry, &QTimer::timeout, [&] {
		if (sock.state() == QLocalSocket::UnconnectedState)
			sock.connectToServer(path);
	});
	// Whatever ended the connection (or made it fail), try again in a second.
	QObject::connect(
		&sock, &QLocalSocket::stateChanged, [&](QLocalSocket::LocalSocketState st) {
			if (st == QLocalSocket::UnconnectedState && !retry.isActive() && !done)
				retry.start();
		});

	// Where to resume after a reconnect: the last frame shown and its firmware run (boot
	// ids come from HELLO; replayed frames carry theirs).
	QHash<QString, qint64> bootOf;
	qint64 lastBoot = -1, lastSeq = -1;
	// When this connection, and the one that gave the last frame, first heard from their
	// daemon (ms on a monotonic clock): a daemon started after that holds nothing from
	// before, and its M7's HELLO restarted seq, so the old position would name one of its
	// own frames.
	QElapsedTimer clock;
	clock.start();
	qint64 heardMs = -1, lastHeardMs = -1;
	QJsonObject watchReq;
	auto sendLine = [&](const QJsonObject &o) {
		sock.write(QJsonDocument(o).toJson(QJsonDocument::Compact) + '\n');
	};

	// Every (re)connection sends the watch again; the daemon then replays each channel's
	// current STATE, so the client never has to guess, and the frames it still holds
	// after the last one shown.
	QObject::connect(&sock, &QLocalSocket::connected, [&] {
		accepted = refused = false;
		heardMs = -1;
		bootOf.clear(); // a run is known from a HELLO of this connection
		watchReq = QJsonObject{{"cmd", "watch"},
				       {"id", 1},
				       {"classes", QJsonArray{"FRAME", "STATE", "HELLO"}}};
		if (port >= 0)
			watchReq["ports"] = QJsonArray{port};
		// Nothing is sent before VERSION: a daemon with no slot for us sends VERSION and
		// its refusal in one write and closes, and a write into that close would lose
		// the refusal's lines with the socket.
	});

	auto readLines = [&] {
		while (sock.canReadLine()) {
			QJsonParseError err;
			const QJsonDocument doc = QJsonDocument::fromJson(sock.readLine(), &err);
			if (!doc.isObject()) {
				out << "bad line from daemon: " << err.errorString() << Qt::endl;
				continue;
			}
			const QJsonObject o = doc.object();
			const QString cls = o.value("class").toString();
			if (cls == "VERSION") {
				release = o.value("release").toString();
				heardMs = clock.elapsed();
				// To resume, first learn whether this is the daemon the position
				// came from.
				if (lastSeq >= 0)
					sendLine(QJsonObject{{"cmd", "status"}, {"id", 2}});
				else
					sendLine(watchReq);
			} else if (cls == "STATUS" && o.value("id").toInt() == 2 && !accepted) {
				const qint64 started =
					clock.elapsed() -
					static_cast<qint64>(o.value("uptime_ms").toDouble());
				if (lastHeardMs < 0 || started > lastHeardMs) {
					std::fprintf(stderr, "m7watch-qt: the daemon restarted: "
							     "resuming with all it holds\n");
					watchReq["since_ns"] = 0;
				} else {
					watchReq["since_seq"] = lastSeq;
					watchReq["boot_id"] = lastBoot;
				}
				sendLine(watchReq);
			} else if (cls == "ACK" && o.value("id").toInt() == 1 && !accepted) {
				accepted = true;
				tries = 0;
				out << "connected to m7bridged " << release << Qt::endl;
			} else if (cls == "ERROR" && !o.contains("id") && !accepted) {
				// Also an older daemon's refusal, sent in place of VERSION.
				const QString why = o.value("message").toString() + " (" +
						    o.value("code").toString() + ")";
				if (++tries >= retries) {
					std::fprintf(stderr,
						     "m7watch-qt: m7bridged at %s refused the "
						     "connection %d times: %s\n",
						     qPrintable(path), tries, qPrintable(why));
					done = true;
					QCoreApplication::exit(69);
					return;
				}
				std::fprintf(
					stderr,
					"m7watch-qt: m7bridged refused the connection: %s; try "
					"%d/%d, again in 1 s\n",
					qPrintable(why), tries, retries);
				refused = true; // said why: "went away" would be wrong
				sock.abort();
				return;
			} else if (cls == "STATE") {
				// The M7 restarted without a HELLO: its run is not known.
				if (o.value("reason").toString() == "m7_restarted")
					bootOf.remove(o.value("channel").toString());
				out << "state " << o.value("channel").toString() << ": "
				    << o.value("state").toString() << " ("
				    << o.value("reason").toString() << ")" << Qt::endl;
			} else if (cls == "HELLO") {
				bootOf[o.value("channel").toString()] =
					static_cast<qint64>(o.value("boot_id").toDouble());
			} else if (cls == "DROPPED") {
				// This client read too slowly: the daemon dropped objects for it.
				std::fprintf(stderr,
					     "m7watch-qt: %lld objects dropped by the daemon: this "
					     "client fell behind (%lld in all)\n",
					     static_cast<long long>(o.value("count").toDouble()),
					     static_cast<long long>(o.value("total").toDouble()));
			} else if (cls == "REPLAY_GAP") {
				std::fprintf(stderr,
					     "m7watch-qt: %s%lld frames of %s lost while "
					     "disconnected\n",
					     o.value("exact").toBool() ? "" : "at least ",
					     static_cast<long long>(o.value("frames").toDouble()),
					     qPrintable(o.value("channel").toString()));
			} else if (cls == "FRAME") {
				const QString ch = o.value("channel").toString();
				const qint64 boot =
					o.contains("boot_id")
						? static_cast<qint64>(o.value("boot_id").toDouble())
						: bootOf.value(ch, -1);
				const qint64 seq = static_cast<qint64>(o.value("seq").toDouble());
				// A live seq stepping back: a restart the daemon has not told yet.
				if (!o.contains("replay") && boot == lastBoot && seq <= lastSeq)
					bootOf.remove(ch);
				lastBoot = o.contains("boot_id") ? boot : bootOf.value(ch, -1);
				lastSeq = lastBoot >= 0 ? seq : -1;
				lastHeardMs = heardMs;
				const QByteArray data = QByteArray::fromBase64(
					o.value("data").toString().toLatin1());
				out << "frame " << o.value("channel").toString() << "/"
				    << o.value("port").toInt() << " seq "
				    << static_cast<qint64>(o.value("seq").toDouble()) << ": "
				    << data.size() << " bytes: " << showBytes(data, hex)
				    << Qt::endl;
				if (count > 0 && ++frames >= count) {
					done = true;
					QCoreApplication::exit(0);
					return;
				}
			} else if (cls == "ERROR") {
				out << "error " << o.value("code").toString() << ": "
				    << o.value("message").toString() << Qt::endl;
				done = true;
				QCoreApplication::exit(1);
				return;
			}
			// Our reader left (| head): Qt ignores SIGPIPE, so nothing else ends us.
			if (out.status() == QTextStream::WriteFailed) {
				done = true;
				QCoreApplication::exit(0);
				return;
			}
		}
	};
	QObject::connect(&sock, &QLocalSocket::readyRead, readLines);

	QObject::connect(&sock, &QLocalSocket::disconnected, [&] {
		// A refusal closes at once: its lines may still be unread here (our watch's
		// write can fail on the closed peer first). Read them before saying anything.
		readLines();
		if (!done && !refused)
			out << "daemon went away; reconnecting" << Qt::endl;
	});
	QObject::connect(
		&sock, &QLocalSocket::errorOccurred, [&](QLocalSocket::LocalSocketError e) {
			if (done)
				return;
			// Trying again changes nothing: group membership counts from the next
			// login.
			if (e == QLocalSocket::SocketAccessError) {
				std::fprintf(stderr,
					     "m7watch-qt: no permission to open %s (%s): is your "
					     "user in the daemon's socket group? (sudo usermod -aG "
					     "m7bridge $USER, then log in again)\n",
					     qPrintable(path), qPrintable(sock.errorString()));
				done = true;
				QCoreApplication::exit(69);
				return;
			}
			if (e != QLocalSocket::PeerClosedError) {
				if (++tries >= retries) {
					std::fprintf(
						stderr,
						"m7watch-qt: no m7bridged at %s after %d tries "
						"(%s); is it running?\n",
						qPrintable(path), tries,
						qPrintable(sock.errorString()));
					done = true;
					QCoreApplication::exit(69);
					return;
				}
				std::fprintf(stderr,
					     "m7watch-qt: cannot connect to %s (%s); try %d/%d, "
					     "again in 1 s\n",
					     qPrintable(path), qPrintable(sock.errorString()),
					     tries, retries);
			}
			if (sock.state() == QLocalSocket::UnconnectedState && !retry.isActive())
				retry.start();
		});

	// From the event loop: a connect that fails at once reports it there, and an exit()
	// before exec() would be lost.
	QTimer::singleShot(0, [&] { sock.connectToServer(path); });
	const int rc = app.exec();
	// The socket closes as main returns: its signals must not reach the lambdas then.
	done = true;
	QObject::disconnect(&sock, nullptr, nullptr, nullptr);
	return rc;
}
