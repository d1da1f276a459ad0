/*
 * The assistant's web chat widget. One tag embeds it:
 *
 *   <script src="https://assistant.example/webhooks/widget/widget.js" defer
 *           data-title="Recorder password help" data-color="#0b5cad" data-lang="en"></script>
 *
 * Options (data attributes, all optional): data-server (the assistant's address; default: where
 * this script came from), data-title, data-color (buttons and header; pick one with 4.5:1
 * contrast against white), data-lang (the widget's own wording: "en", "es" or "fr", a region
 * allowed, "fr-CA"; without it, the browser's first language among those, else English),
 * data-open ("true": open on load).
 *
 * Its language: the widget's own words (STRINGS), dates and times in that language's local form
 * (the browser's region when it has one for that language: fr-CA, es-US), the `lang` of its
 * frame, the annotations of its pictures (pictures/<name>.svg?lang=<base code>), and every
 * message it sends tells the assistant (metadata "language": the base code),
 * which starts the conversation in it. The widget then follows the conversation: when a `turn`
 * payload's "language" is another one (the owner asked for it, or wrote in it), its own words,
 * dates, pictures, `lang` and metadata switch to it, and stay so after a reload (data-lang is
 * only the language it starts in). Each node showing one of its strings says which
 * (data-lw-i18n), so a switch relabels them in place (and re-points its pictures); what was said
 * in the conversation stays as it was said.
 *
 * Plain ES2017, served as written (no build step). The chat goes over the assistant's socket.io
 * channel with session persistence: the session id and the conversation (without any temporary
 * password) are kept in localStorage, so the chat survives reloads and navigation on the site.
 *
 * The channel contract: buttons send intents as Rasa's `/intent` or `/intent{"entity": "value"}`
 * text (showing their title), and the widget acts on the assistant's payloads (`turn`,
 * `pictures`, `reset_step`, `temporary_password`, `temporary_password_again`), never on its
 * words: the step card is drawn from the `reset_step` payload's title and parts (the step's text
 * messages, marked `part_of: "reset_step"`, are skipped), the place in line is the `turn`
 * payload's `position`.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.__lorexWidgetLoaded) return;
  window.__lorexWidgetLoaded = true;

  var BASE = new URL(".", script.src).href; // .../webhooks/widget/
  var options = {
    server: script.dataset.server || new URL(script.src).origin,
    title: script.dataset.title || "",
    color: script.dataset.color || "",
    lang: script.dataset.lang || "",
    open: script.dataset.open === "true",
  };

  // The widget's own words, by language (the assistant's come from the server, in the
  // conversation's language). Each language has every key of "en", with the same {placeholders}.
  var STRINGS = {
    en: {
      title: "Recorder password help",
      launcher: "Chat: reset my recorder password",
      close: "Close chat",
      log: "Conversation",
      message: "Message",
      placeholder: "Type your message",
      send: "Send",
      photo: "Read the Device ID from a photo of the label",
      you: "You",
      assistant: "Assistant",
      agent: "Support agent",
      typing: "The assistant is typing",
      connecting: "Connecting…",
      offline: "Connection lost. Reconnecting…",
      notSent: "Sorry, that message could not be sent. Please type it again.",
      waiting: "You are waiting for an agent (position {n}). Please keep this window open.",
      waitingNoPosition: "You are waiting for an agent. Please keep this window open.",
      stepOf: "Step {n} of {m}",
      finished: "All {m} steps done",
      finishedTitle: "Your password is reset",
      progress: "Progress",
      done: "Done",
      back: "Back",
      repeat: "Repeat",
      stuck: "I'm stuck",
      sensitive: "Type your new password on the recorder only, never in this chat.",
      passwordTitle: "Temporary password",
      show: "Show",
      hide: "Hide",
      copy: "Copy",
      copied: "Copied",
      copyFailed: "Copy didn't work: select the password and copy it yourself.",
      validUntil: "Valid until {t}",
      hidden: "Hidden. Press Show to see it.",
      passwordGone: "A temporary password was shown here once. For your safety it is not shown " +
        "again: if you still need it, ask the agent for a new one.",
      passwordUnavailable: "The temporary password could not be shown. Please ask the agent for " +
        "a new one.",
      passwordNotKept: "For your safety, the temporary password is not shown again once this " +
        "page has been reloaded or closed. If you still need it, ask for a new one.",
      askNewPassword: "Ask for a new one",
      sentToAgent: "Sent to the agent",
      slashRefused: "Messages starting with \"/\" are kept for the chat's buttons. Please write " +
        "it in words.",
      reading: "Reading the photo…",
      photoFound: "I read the Device ID {id} from your photo. Is that the one to use?",
      photoSerial: "The code in your photo looks like a serial number ({id}), not the Device ID.",
      photoNotFound: "I read {id} from your photo, but it doesn't match a registered recorder. " +
        "Use it anyway?",
      photoYes: "Yes, use it",
      photoNo: "No",
      photoTooLarge: "That file is too large (the limit is 10 MB). Please send a smaller photo, " +
        "or type the Device ID instead.",
      photoFailed: "The photo could not be sent. Please try again, or type the Device ID.",
      pictureLabel: "Recorder label: the Device ID is printed beside the QR code; the serial " +
        "number (S/N) is below it.",
      pictureInfo: "The recorder's Device Info screen, opened with right-click > Info, showing " +
        "the Device ID.",
      // Step pictures, by the name data/content/reset_steps.yml gives each step.
      "picture:connect-monitor-mouse": "A recorder with a monitor connected by an HDMI or VGA " +
        "cable and a USB mouse plugged into the recorder's USB port.",
      "picture:right-click-menu": "The camera view with the right-click menu open; Main Menu " +
        "is the first item.",
      "picture:login": "The login box: User Name admin, the temporary password in the Password " +
        "field, and the OK button.",
      "picture:main-menu": "The Main Menu path: Settings, then System, then Account, then User.",
      "picture:user-list": "The list of users; in the admin row, the pencil icon in the Modify " +
        "column.",
      "picture:modify-password": "The Modify User window: the Modify Password box ticked, the " +
        "Old Password, New Password and Confirm Password fields, and the OK button at the bottom.",
    },
    es: {
      title: "Ayuda con la contraseña de su grabadora",
      launcher: "Chat: restablecer la contraseña de mi grabadora",
      close: "Cerrar el chat",
      log: "Conversación",
      message: "Mensaje",
      placeholder: "Escriba su mensaje",
      send: "Enviar",
      photo: "Leer el ID del dispositivo en una foto de la etiqueta",
      you: "Usted",
      assistant: "Asistente",
      agent: "Agente de soporte",
      typing: "El asistente está escribiendo",
      connecting: "Conectando…",
      offline: "Se perdió la conexión. Reconectando…",
      notSent: "Lo sentimos, no se pudo enviar ese mensaje. Escríbalo de nuevo, por favor.",
      waiting: "Está esperando a un agente (lugar {n} en la fila). No cierre esta ventana, " +
        "por favor.",
      waitingNoPosition: "Está esperando a un agente. No cierre esta ventana, por favor.",
      stepOf: "Paso {n} de {m}",
      finished: "Completó los {m} pasos",
      finishedTitle: "Su contraseña quedó restablecida",
      progress: "Progreso",
      done: "Listo",
      back: "Atrás",
      repeat: "Repetir",
      stuck: "No puedo avanzar",
      sensitive: "Escriba su nueva contraseña solo en la grabadora, nunca en este chat.",
      passwordTitle: "Contraseña temporal",
      show: "Mostrar",
      hide: "Ocultar",
      copy: "Copiar",
      copied: "Copiada",
      copyFailed: "No se pudo copiar: seleccione la contraseña y cópiela usted.",
      validUntil: "Válida hasta el {t}",
      hidden: "Oculta. Presione Mostrar para verla.",
      passwordGone: "Aquí se mostró una contraseña temporal. Por su seguridad, no se vuelve a " +
        "mostrar: si todavía la necesita, pídale una nueva al agente.",
      passwordUnavailable: "No se pudo mostrar la contraseña temporal. Pídale una nueva al " +
        "agente, por favor.",
      passwordNotKept: "Por su seguridad, la contraseña temporal no se vuelve a mostrar " +
        "después de recargar o cerrar esta página. Si todavía la necesita, pida una nueva.",
      askNewPassword: "Pedir una nueva",
      sentToAgent: "Enviado al agente",
      slashRefused: "Los mensajes que empiezan con \"/\" son para los botones del chat. " +
        "Escríbalo con sus propias palabras, por favor.",
      reading: "Leyendo la foto…",
      photoFound: "En su foto leí el ID del dispositivo {id}. ¿Es el que debo usar?",
      photoSerial: "El código de su foto parece un número de serie ({id}), no el ID del " +
        "dispositivo.",
      photoNotFound: "En su foto leí {id}, pero no coincide con ninguna grabadora registrada. " +
        "¿Lo uso de todos modos?",
      photoYes: "Sí, úselo",
      photoNo: "No",
      photoTooLarge: "Ese archivo es demasiado grande (el límite es de 10 MB). Envíe una foto " +
        "más liviana o escriba el ID del dispositivo.",
      photoFailed: "No se pudo enviar la foto. Inténtelo de nuevo o escriba el ID del " +
        "dispositivo.",
      pictureLabel: "Etiqueta de la grabadora: el ID del dispositivo está impreso junto al " +
        "código QR; el número de serie (S/N) está debajo.",
      pictureInfo: "La pantalla de información de la grabadora, que se abre con clic derecho > " +
        "Info, con el ID del dispositivo.",
      "picture:connect-monitor-mouse": "Una grabadora con un monitor conectado por cable HDMI " +
        "o VGA y un mouse USB conectado al puerto USB de la grabadora.",
      "picture:right-click-menu": "La vista de las cámaras con el menú del clic derecho " +
        "abierto; la primera opción es el Menú principal (Main Menu).",
      "picture:login": "La ventana de inicio de sesión: usuario admin, la contraseña temporal " +
        "en el campo de contraseña y el botón OK.",
      "picture:main-menu": "El camino desde el Menú principal: Configuración, luego Sistema, " +
        "luego Cuenta y luego Usuario.",
      "picture:user-list": "La lista de usuarios; en la fila de admin, el ícono del lápiz en " +
        "la columna Modificar.",
      "picture:modify-password": "La ventana para modificar el usuario: la casilla de cambiar " +
        "la contraseña marcada, los campos de contraseña anterior, nueva contraseña y " +
        "confirmación, y el botón OK abajo.",
      // The photo reader's refusals, by their code (English: the server's own words).
      "photoError:empty": "El archivo está vacío. Elija una foto de la etiqueta, por favor.",
      "photoError:too_large": "Ese archivo es demasiado grande (el límite es de 10 MB). Envíe " +
        "una foto más liviana o escriba el ID del dispositivo.",
      "photoError:not_an_image": "No puedo leer ese archivo como foto. Envíe una imagen JPEG, " +
        "PNG o WebP de la etiqueta, por favor.",
      "photoError:too_many_pixels": "Esa foto tiene demasiada resolución para que la lea. Envíe " +
        "una foto más pequeña o escriba el ID del dispositivo.",
      "photoError:too_many_attempts": "Por ahora no puedo verificar más IDs de dispositivo: " +
        "varios no coincidieron con ninguna grabadora registrada y, para proteger las " +
        "grabadoras de sus dueños, me detengo ahí. Inténtelo más tarde o pida en el chat hablar " +
        "con un agente de soporte, que puede buscar su grabadora con usted.",
      "photoError:no_qr_code": "No pude leer ningún código QR en esa foto. Tómela de nuevo de " +
        "cerca, con buena luz y bien enfocada, o escriba el ID del dispositivo que está impreso " +
        "junto al código QR.",
      "photoError:no_device_id": "Leí un código en esa foto, pero no contiene ningún ID de " +
        "dispositivo. Fotografíe el código QR que está junto al ID del dispositivo o escriba " +
        "el ID directamente.",
      "photoError:busy": "Ahora mismo se están leyendo muchas fotos. Inténtelo de nuevo en un " +
        "momento o escriba el ID del dispositivo.",
      "photoError:unavailable": "En este momento no puedo leer fotos. Inténtelo de nuevo en un " +
        "momento o escriba el ID del dispositivo impreso junto al código QR.",
    },
    fr: {
      title: "Aide pour le mot de passe de votre enregistreur",
      launcher: "Clavardage\u00a0: réinitialiser le mot de passe de mon enregistreur",
      close: "Fermer le clavardage",
      log: "Conversation",
      message: "Message",
      placeholder: "Votre message",
      send: "Envoyer",
      photo: "Lire l'ID de l'appareil sur une photo de l'étiquette",
      you: "Vous",
      assistant: "Assistant",
      agent: "Agent de soutien",
      typing: "L'assistant est en train d'écrire",
      connecting: "Connexion…",
      offline: "Connexion perdue. Reconnexion en cours…",
      notSent: "Désolé, ce message n'a pas pu être envoyé. Veuillez le réécrire.",
      waiting: "Vous êtes en attente d'un agent (n°\u00a0{n} dans la file). Veuillez laisser cette " +
        "fenêtre ouverte.",
      waitingNoPosition: "Vous êtes en attente d'un agent. Veuillez laisser cette fenêtre " +
        "ouverte.",
      stepOf: "Étape {n} sur {m}",
      finished: "Les {m} étapes sont terminées",
      finishedTitle: "Votre mot de passe est réinitialisé",
      progress: "Progression",
      done: "C'est fait",
      back: "Retour",
      repeat: "Répéter",
      stuck: "Je bloque",
      sensitive: "Saisissez votre nouveau mot de passe sur l'enregistreur seulement, jamais " +
        "dans ce clavardage.",
      passwordTitle: "Mot de passe temporaire",
      show: "Afficher",
      hide: "Masquer",
      copy: "Copier",
      copied: "Copié",
      copyFailed: "La copie n'a pas fonctionné\u00a0: sélectionnez le mot de passe et copiez-le " +
        "vous-même.",
      validUntil: "Valide jusqu'au {t}",
      hidden: "Masqué. Appuyez sur Afficher pour le voir.",
      passwordGone: "Un mot de passe temporaire a été affiché ici. Pour votre sécurité, il " +
        "n'est pas affiché de nouveau\u00a0: si vous en avez encore besoin, demandez-en un nouveau " +
        "à l'agent.",
      passwordUnavailable: "Le mot de passe temporaire n'a pas pu être affiché. Veuillez en " +
        "demander un nouveau à l'agent.",
      passwordNotKept: "Pour votre sécurité, le mot de passe temporaire n'est plus affiché une " +
        "fois la page rechargée ou fermée. Si vous en avez encore besoin, demandez-en un nouveau.",
      askNewPassword: "En demander un nouveau",
      sentToAgent: "Envoyé à l'agent",
      slashRefused: "Les messages qui commencent par «\u00a0/\u00a0» sont réservés aux boutons du " +
        "clavardage. Veuillez l'écrire en toutes lettres.",
      reading: "Lecture de la photo…",
      photoFound: "J'ai lu l'ID de l'appareil {id} sur votre photo. Est-ce bien celui-là?",
      photoSerial: "Le code sur votre photo ressemble à un numéro de série ({id}), pas à l'ID " +
        "de l'appareil.",
      photoNotFound: "J'ai lu {id} sur votre photo, mais il ne correspond à aucun enregistreur " +
        "de nos dossiers. L'utiliser quand même?",
      photoYes: "Oui, l'utiliser",
      photoNo: "Non",
      photoTooLarge: "Ce fichier est trop volumineux (10 Mo au maximum). Envoyez une photo " +
        "plus légère ou tapez plutôt l'ID de l'appareil.",
      photoFailed: "La photo n'a pas pu être envoyée. Réessayez ou tapez l'ID de l'appareil.",
      pictureLabel: "Étiquette de l'enregistreur\u00a0: l'ID de l'appareil est imprimé à côté du " +
        "code QR; le numéro de série (S/N) est en dessous.",
      pictureInfo: "L'écran d'information de l'enregistreur, ouvert par clic droit > Info, " +
        "qui affiche l'ID de l'appareil.",
      "picture:connect-monitor-mouse": "Un enregistreur relié à un écran par un câble HDMI " +
        "ou VGA, avec une souris USB branchée dans son port USB.",
      "picture:right-click-menu": "La vue des caméras avec le menu du clic droit ouvert; le " +
        "premier choix est le menu principal (Main Menu).",
      "picture:login": "La fenêtre de connexion\u00a0: nom d'utilisateur admin, le mot de passe " +
        "temporaire dans le champ du mot de passe, et le bouton OK.",
      "picture:main-menu": "Le chemin à partir du menu principal\u00a0: Paramètres, puis Système, " +
        "puis Compte, puis Utilisateur.",
      "picture:user-list": "La liste des utilisateurs; dans la ligne admin, l'icône du crayon " +
        "dans la colonne Modifier.",
      "picture:modify-password": "La fenêtre de modification de l'utilisateur\u00a0: la case pour " +
        "changer le mot de passe cochée, les champs de l'ancien mot de passe, du nouveau et de " +
        "sa confirmation, et le bouton OK en bas.",
      // The photo reader's refusals, by their code (English: the server's own words).
      "photoError:empty": "Le fichier est vide. Veuillez choisir une photo de l'étiquette.",
      "photoError:too_large": "Ce fichier est trop volumineux (10\u00a0Mo au maximum). Envoyez " +
        "une photo plus légère ou tapez plutôt l'ID de l'appareil.",
      "photoError:not_an_image": "Je ne peux pas lire ce fichier comme une photo. Veuillez " +
        "envoyer une image JPEG, PNG ou WebP de l'étiquette.",
      "photoError:too_many_pixels": "La résolution de cette photo est trop élevée pour que je " +
        "la lise. Envoyez une photo plus petite ou tapez plutôt l'ID de l'appareil.",
      "photoError:too_many_attempts": "Je ne peux plus vérifier d'ID d'appareil pour le " +
        "moment\u00a0: trop d'entre eux ne correspondaient à aucun enregistreur de nos " +
        "dossiers et, pour protéger les enregistreurs des propriétaires, je m'arrête là. " +
        "Réessayez plus tard ou demandez un agent de soutien dans le clavardage\u00a0: il " +
        "pourra retrouver votre enregistreur avec vous.",
      "photoError:no_qr_code": "Je n'ai pas pu lire de code QR sur cette photo. Reprenez-la de " +
        "près, avec un bon éclairage et bien au point, ou tapez l'ID de l'appareil imprimé à " +
        "côté du code QR.",
      "photoError:no_device_id": "J'ai lu un code sur cette photo, mais il ne contient aucun " +
        "ID d'appareil. Photographiez le code QR à côté de l'ID de l'appareil ou tapez plutôt " +
        "l'ID.",
      "photoError:busy": "Beaucoup de photos sont en cours de lecture. Réessayez dans un " +
        "instant ou tapez l'ID de l'appareil.",
      "photoError:unavailable": "Je ne peux pas lire de photos pour le moment. Réessayez dans " +
        "un instant ou tapez l'ID de l'appareil imprimé à côté du code QR.",
    },
  };
  var LANGUAGES = Object.keys(STRINGS);
  // The base code of a language tag ("fr-CA" -> "fr"), if the widget speaks it.
  function baseOf(tag) {
    var base = String(tag || "").trim().replace(/_/g, "-").split("-")[0].toLowerCase();
    return LANGUAGES.indexOf(base) >= 0 ? base : null;
  }
  // A well-formed tag, or null ("fr_ca" -> "fr-CA").
  function canonical(tag) {
    try {
      return Intl.getCanonicalLocales(String(tag).trim().replace(/_/g, "-"))[0] || null;
    } catch (e) {
      return null;
    }
  }
  // The widget's language: data-lang's, else the browser's first one the widget speaks, else
  // English; and the locale its dates and times are written in: data-lang's own region, else
  // the browser's for that language (fr + fr-CA: fr-CA), else the language alone.
  function chooseLanguage(asked, preferred) {
    var base = baseOf(asked);
    var i;
    for (i = 0; i < preferred.length && base === null; i += 1) base = baseOf(preferred[i]);
    if (base === null) base = "en";
    var locale = baseOf(asked) === base && /[-_]/.test(asked) ? canonical(asked) : null;
    for (i = 0; i < preferred.length && !locale; i += 1) {
      if (baseOf(preferred[i]) === base) locale = canonical(preferred[i]);
    }
    return { base: base, locale: locale || base };
  }
  var PREFERRED = (navigator.languages && navigator.languages.length ? navigator.languages :
    [navigator.language]).filter(Boolean);
  var language = chooseLanguage(options.lang, PREFERRED);
  // Another language the conversation moved to: its locale by the same rules (data-lang's
  // region if data-lang is that language, else the browser's for it, else the language alone).
  function languageFor(base) {
    return chooseLanguage(baseOf(options.lang) === base ? options.lang : base, PREFERRED);
  }
  var T = STRINGS[language.base];
  function t(key, values) {
    return String(T[key]).replace(/\{(\w+)\}/g, function (_, name) {
      return values && name in values ? formatted(values[name]) : "";
    });
  }
  // A value that depends on the language: {deadline: iso} is a date and time in its local form.
  function formatted(value) {
    if (value && typeof value === "object" && value.deadline) {
      // With the time zone: the deadline is the support centre's midnight, which is another
      // hour in the visitor's own zone.
      return new Date(value.deadline).toLocaleString(language.locale, {
        month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
        timeZoneName: "short" });
    }
    return value;
  }
  var defaultTitle = !options.title; // the title follows the language unless the page set one

  // The steps that have a picture (widget/pictures/<name>.svg; t("picture:<name>") describes it).
  var STEP_PICTURES = ["connect-monitor-mouse", "right-click-menu", "login", "main-menu",
    "user-list", "modify-password"];
  // Pictures the assistant attaches to its message (a `pictures` payload), by name: the string
  // that describes each.
  var MESSAGE_PICTURES = { label: "pictureLabel", "info-screen": "pictureInfo" };
  // What the step card's buttons send (Rasa's `/intent` text) and show.
  var STEP_ACTIONS = {
    done: "/step_done", back: "/go_back", repeat: "/repeat", stuck: "/step_help",
  };
  var GREET = "/greet";
  var NEW_PASSWORD = "/request_password_reset";
  var TYPING_MS = 15000; // the dots never outstay a reply that does not come
  var CAMERA_ICON = "M9 4 7.5 6H4a2 2 0 0 0-2 2v10a2 2 0 0 0 2 2h16a2 2 0 0 0 2-2V8a2 2 0 0 " +
    "0-2-2h-3.5L15 4H9zm3 4.5a4.5 4.5 0 1 1 0 9 4.5 4.5 0 0 1 0-9zm0 2a2.5 2.5 0 1 0 0 5 2.5 2.5 " +
    "0 0 0 0-5z";
  var CHAT_ICON = "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 " +
    "2-2zm3 6.5a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 " +
    "0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z";
  var MAX_UPLOAD = 10 * 1024 * 1024;
  var STORE = "lorex-widget:" + options.server + ":";

  // ---- storage: session id, open state, and the conversation without any password ----------
  function load(key, fallback) {
    try {
      var raw = localStorage.getItem(STORE + key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) {
      return fallback;
    }
  }
  function save(key, value) {
    try {
      // Never the DOM nodes kept beside the history (callbacks are dropped by JSON itself).
      localStorage.setItem(STORE + key, JSON.stringify(value, function (name, item) {
        return name === "node" ? undefined : item;
      }));
    } catch (e) { /* private mode or full: the chat still works, it just won't survive reloads */ }
  }
  // The server issues the session id (a secret: whoever holds it is this conversation); we keep
  // the one it confirmed and ask for it back after a reload.
  var sessionId = load("session", null);
  var state = load("state", null) || { history: [], waiting: null, open: options.open };
  state.history = state.history.slice(-200);
  // The language the conversation moved to before a reload.
  if (baseOf(state.language) && baseOf(state.language) !== language.base) {
    language = languageFor(baseOf(state.language));
    T = STRINGS[language.base];
  }

  function record(entry) {
    state.history.push(entry);
    persist();
    return entry;
  }
  function persist() {
    save("state", state);
  }

  // ---- DOM helpers --------------------------------------------------------------------------
  var uid = 0;
  // attrs.i18n: the widget's strings the node shows, by where ("text" or an attribute), each
  // a key or [key, values]; kept on the node, so that a change of language relabels it.
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "i18n") labelled(node, value);
      else if (name === "text") node.textContent = value;
      else if (name.slice(0, 2) === "on") node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }
  function labelled(node, spec) {
    Object.keys(spec).forEach(function (where) {
      var key = Array.isArray(spec[where]) ? spec[where][0] : spec[where];
      var text = t(key, Array.isArray(spec[where]) ? spec[where][1] : null);
      if (where === "text") node.textContent = text;
      else node.setAttribute(where, text);
    });
    node.setAttribute("data-lw-i18n", JSON.stringify(spec));
  }
  // Shows the string `key` (or nothing, when null) in `where` of a node, from now on.
  function relabel(node, where, key, values) {
    var spec = JSON.parse(node.getAttribute("data-lw-i18n") || "{}");
    if (key === null) {
      delete spec[where];
      if (where === "text") node.textContent = "";
      else node.removeAttribute(where);
    } else {
      spec[where] = values ? [key, values] : key;
    }
    labelled(node, spec);
  }
  function id(prefix) {
    uid += 1;
    return "lw-" + prefix + "-" + uid;
  }

  // **bold**, numbered lines and paragraphs; everything else is text (never HTML).
  function rich(text) {
    var box = el("div", { class: "lw-text" });
    String(text || "").split(/\n{2,}/).forEach(function (paragraph) {
      var lines = paragraph.split("\n");
      var list = null;
      var para = null;
      lines.forEach(function (line) {
        var item = /^\s*(\d+)\.\s+(.*)$/.exec(line);
        if (item) {
          if (!list) {
            list = el("ol", { start: item[1] });
            box.appendChild(list);
          }
          list.appendChild(inline(el("li"), item[2]));
          para = null;
        } else {
          list = null;
          if (para) para.appendChild(el("br"));
          else {
            para = el("p");
            box.appendChild(para);
          }
          inline(para, line);
        }
      });
    });
    return box;
  }
  function inline(node, text) {
    text.split(/(\*\*[^*]+\*\*)/).forEach(function (part) {
      if (/^\*\*[^*]+\*\*$/.test(part)) node.appendChild(el("strong", { text: part.slice(2, -2) }));
      else if (part) node.appendChild(document.createTextNode(part));
    });
    return node;
  }
  function clock(iso) {
    return el("time", { datetime: iso, text: clockText(iso) });
  }
  function clockText(iso) {
    return new Date(iso).toLocaleTimeString(language.locale, {
      hour: "2-digit", minute: "2-digit" });
  }

  // ---- the widget's frame (in a shadow root, so the host page's CSS can't reach it) ---------
  var host = el("div", { id: "lorex-chat-widget" });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  // Hidden until its styles are in, so the page never shows the widget unstyled.
  host.style.visibility = "hidden";
  var showHost = function () { host.style.visibility = ""; };
  root.appendChild(el("link", {
    rel: "stylesheet", href: BASE + "widget.css", onload: showHost, onerror: showHost,
  }));

  var panelId = id("panel");
  var titleId = id("title");
  var launcher = el("button", {
    type: "button", class: "lw-launcher", "aria-expanded": "false", "aria-controls": panelId,
    onclick: function () { setOpen(true); },
  }, [icon(CHAT_ICON), el("span", { i18n: { text: "launcher" } })]);
  var closeButton = el("button", {
    type: "button", class: "lw-close", i18n: { "aria-label": "close" },
    onclick: function () { setOpen(false); },
  }, [el("span", { "aria-hidden": "true", text: "×" })]);
  var connection = el("p", { class: "lw-connection", role: "status" });
  var waitingBanner = el("p", { class: "lw-waiting", role: "status", hidden: true });
  var log = el("div", {
    class: "lw-log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
    i18n: { "aria-label": "log" }, tabindex: "0",
  });
  var typing = el("p", { class: "lw-typing", hidden: true }, [
    el("span", { class: "lw-dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
    el("span", { class: "lw-visually-hidden", i18n: { text: "typing" } }),
  ]);
  var inputId = id("input");
  var input = el("input", {
    id: inputId, type: "text", class: "lw-input", autocomplete: "off", maxlength: "500",
    i18n: { placeholder: "placeholder" },
  });
  var fileInput = el("input", {
    type: "file", accept: "image/jpeg,image/png,image/webp", class: "lw-visually-hidden",
    tabindex: "-1", "aria-hidden": "true", onchange: function () { uploadPhoto(fileInput.files[0]); },
  });
  var photoButton = el("button", {
    type: "button", class: "lw-photo", i18n: { "aria-label": "photo", title: "photo" },
    onclick: function () { fileInput.click(); },
  }, [icon(CAMERA_ICON)]);
  var composer = el("form", { class: "lw-composer", onsubmit: function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text, text);
  } }, [
    photoButton, fileInput,
    el("label", { for: inputId, class: "lw-visually-hidden", i18n: { text: "message" } }), input,
    el("button", { type: "submit", class: "lw-send", i18n: { text: "send" } }),
  ]);
  var panel = el("section", {
    id: panelId, class: "lw-panel", role: "dialog", "aria-labelledby": titleId, hidden: true,
    onkeydown: function (event) { if (event.key === "Escape") setOpen(false); },
  }, [
    el("header", { class: "lw-header" }, [
      el("h2", defaultTitle ? { id: titleId, i18n: { text: "title" } } :
        { id: titleId, text: options.title }),
      closeButton,
    ]),
    connection, waitingBanner, log, typing, composer,
  ]);
  var frame = el("div", { class: "lw-root", lang: language.locale }, [launcher, panel]);
  if (options.color) frame.style.setProperty("--lw-accent", options.color);
  root.appendChild(frame);

  function icon(pathData) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "lw-icon");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", pathData);
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  var greeted = false;
  function setOpen(open) {
    state.open = open;
    persist();
    panel.hidden = !open;
    launcher.hidden = open;
    launcher.setAttribute("aria-expanded", String(open));
    if (open) {
      connect();
      input.focus();
      scrollDown();
      // A conversation with no messages opens with the assistant's greeting and its quick
      // replies (once per page: its answer is on the way).
      if (!state.history.length && !greeted) {
        greeted = true;
        send(GREET, null);
      }
    } else {
      launcher.focus();
    }
  }

  // The conversation follows new messages unless the visitor scrolled up to read.
  var following = true;
  log.addEventListener("scroll", function () {
    following = log.scrollTop + log.clientHeight >= log.scrollHeight - 48;
  });
  function scrollDown() {
    log.scrollTop = log.scrollHeight;
    following = true;
  }
  // A picture, described by the string `altKey`; its annotations in the widget's language (the
  // server lays them in: each language has its own URL).
  function picture(name, altKey) {
    return el("img", {
      class: "lw-picture", src: pictureUrl(name), "data-lw-picture": name, i18n: { alt: altKey },
      onload: function () { if (following) scrollDown(); },
    });
  }
  function pictureUrl(name) {
    return BASE + "pictures/" + name + ".svg?lang=" + language.base;
  }

  // ---- rendering one history entry ------------------------------------------------------------
  function render(entry) {
    var node;
    if (entry.kind === "user") {
      node = el("div", { class: "lw-msg lw-user" }, [
        el("span", { class: "lw-visually-hidden" }, [el("span", { i18n: { text: "you" } }), ": "]),
        rich(entry.text), clock(entry.time),
        entry.toAgent ?
          el("p", { class: "lw-sent", role: "status", i18n: { text: "sentToAgent" } }) : null,
      ]);
    } else if (entry.kind === "bot" || entry.kind === "local") {
      node = el("div", { class: "lw-msg lw-bot" }, [
        el("span", { class: "lw-visually-hidden" }, [
          el("span", { i18n: { text: "assistant" } }), ": "]),
        rich(entry.text),
      ]);
      (entry.pictures || []).forEach(function (item) {
        if (MESSAGE_PICTURES.hasOwnProperty(item.name)) {
          node.appendChild(picture(item.name, MESSAGE_PICTURES[item.name]));
        }
      });
      if (entry.choices && entry.choices.length) node.appendChild(choices(entry));
      node.appendChild(clock(entry.time));
    } else if (entry.kind === "agent") {
      var name = entry.agent || t("agent");
      node = el("div", { class: "lw-msg lw-agent" }, [
        el("p", { class: "lw-agent-name" }, [
          el("span", { class: "lw-avatar", "aria-hidden": "true", text: name.charAt(0) }),
          el("span", entry.agent ? { text: name } : { i18n: { text: "agent" } }),
          el("span", { class: "lw-agent-role" }, [" · ", el("span", { i18n: { text: "agent" } })]),
        ]),
        rich(entry.text), clock(entry.time),
      ]);
    } else if (entry.kind === "card") {
      node = stepCard(entry);
    } else if (entry.kind === "password") {
      node = el("div", { class: "lw-msg lw-bot lw-password-gone" }, [
        el("p", { i18n: { text: entry.unavailable ? "passwordUnavailable" : "passwordGone" } }),
      ]);
    } else {
      return null;
    }
    entry.node = node;
    return node;
  }

  function choices(entry) {
    var group = el("div", { class: "lw-choices", role: "group" });
    entry.choices.forEach(function (choice) {
      group.appendChild(el("button", {
        type: "button", class: "lw-choice", disabled: entry.used, text: choice.title,
        onclick: function () {
          if (entry.used) return;
          if (choice.local) choice.local();
          else send(choice.payload, choice.title);
        },
      }));
    });
    return group;
  }

  function stepCard(entry) {
    var card = entry.card;
    var headingId = id("step");
    var parts = card.parts || {};
    // The hint (how to answer: done, back, repeat, stuck) is what the card's buttons say.
    var body = [parts.notice, parts.body, parts.tip].filter(function (part) {
      return typeof part === "string" && part;
    });
    if (!card.parts && entry.text) body = [entry.text]; // a card kept by an older widget
    var title = card.title ? String(card.title) : "";
    var total = card.total || 1;
    var number = card.finished ? total : card.step || 0;
    var label = card.finished ? ["finished", { m: total }] : ["stepOf", { n: number, m: total }];
    var node = el("div", { class: "lw-card" + (card.finished ? " lw-card-finished" : "") }, [
      el("section", { "aria-labelledby": headingId }, [
        el("p", { class: "lw-card-step", i18n: { text: label } }),
        el("div", {
          class: "lw-progress", role: "progressbar", i18n: { "aria-label": "progress",
            "aria-valuetext": label },
          "aria-valuemin": "0", "aria-valuemax": String(total), "aria-valuenow": String(number),
        }, [el("div", { class: "lw-progress-bar", style: "width:" + (100 * number / total) + "%" })]),
        el("h3", title ? { id: headingId, text: title } :
          { id: headingId, i18n: { text: card.finished ? "finishedTitle" : label } }),
        rich(body.join("\n\n")),
        card.sensitive_input ? el("p", { class: "lw-sensitive", i18n: { text: "sensitive" } }) :
          null,
        STEP_PICTURES.indexOf(card.picture) >= 0 ?
          picture(card.picture, "picture:" + card.picture) : null,
        card.finished ? null : el("div", { class: "lw-card-actions", role: "group",
          i18n: { "aria-label": label } }, [
          stepButton(entry, STEP_ACTIONS.done, "done", true),
          stepButton(entry, STEP_ACTIONS.back, "back"),
          stepButton(entry, STEP_ACTIONS.repeat, "repeat"),
          stepButton(entry, STEP_ACTIONS.stuck, "stuck"),
        ]),
        clock(entry.time),
      ]),
    ]);
    return node;
  }
  function stepButton(entry, message, key, primary) {
    return el("button", {
      type: "button", class: "lw-step-button" + (primary ? " lw-primary" : ""),
      disabled: entry.used, i18n: { text: key },
      onclick: function () {
        if (entry.used) return;
        focusNextCard = true; // the pressed button is disabled: keep keyboard users on the cards
        send(message, t(key));
      },
    });
  }

  var focusNextCard = false;
  function show(entry) {
    var node = render(entry);
    if (node) log.appendChild(node);
    scrollDown();
    if (entry.kind === "card" && focusNextCard && node) {
      focusNextCard = false;
      var next = node.querySelector(".lw-primary") || node.querySelector("h3");
      if (next && next.tagName === "H3") next.setAttribute("tabindex", "-1");
      if (next) next.focus();
    }
  }

  // Only the newest buttons work: answering disables the older ones.
  function retireChoices() {
    state.history.forEach(function (entry) {
      if ((entry.choices || entry.kind === "card") && !entry.used) {
        entry.used = true;
        if (entry.node) {
          entry.node.querySelectorAll("button").forEach(function (button) {
            if (!button.closest(".lw-password")) button.disabled = true;
          });
        }
      }
    });
  }

  function showWaiting() {
    if (state.waiting === null) {
      waitingBanner.hidden = true;
      waitingBanner.textContent = "";
    } else {
      waitingBanner.hidden = false;
      waitingBanner.textContent = state.waiting > 0 ? t("waiting", { n: state.waiting }) :
        t("waitingNoPosition");
    }
  }
  function setWaiting(position) {
    state.waiting = position;
    persist();
    showWaiting();
  }

  // ---- the temporary password: shown once, never stored -------------------------------------
  // Released passwords this page has shown, by reference, in memory only: the owner may ask for
  // one again (a re-release is another reference); after a reload it is gone, by design.
  var heldPasswords = {};
  function passwordBox(message) {
    var details = message.temporary_password || {};
    record({ kind: "password", unavailable: !!details.unavailable, time: now() });
    if (details.unavailable || !details.value) {
      show({ kind: "password", unavailable: true });
      return;
    }
    if (details.reference) heldPasswords[String(details.reference)] = details;
    var value = String(details.value);
    var masked = "•".repeat(value.length);
    var visible = false;
    var valueNode = el("code", { class: "lw-password-value", text: masked,
      i18n: { "aria-label": "hidden" } });
    var feedback = el("p", { class: "lw-password-feedback", role: "status" });
    var toggle = el("button", {
      type: "button", class: "lw-step-button", "aria-pressed": "false", i18n: { text: "show" },
      onclick: function () {
        visible = !visible;
        valueNode.textContent = visible ? value : masked;
        relabel(valueNode, "aria-label", visible ? null : "hidden");
        relabel(toggle, "text", visible ? "hide" : "show");
        toggle.setAttribute("aria-pressed", String(visible));
      },
    });
    var copy = el("button", {
      type: "button", class: "lw-step-button", i18n: { text: "copy" },
      onclick: function () {
        var done = function () { relabel(feedback, "text", "copied"); };
        var failed = function () { relabel(feedback, "text", "copyFailed"); };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(value).then(done, failed);
        } else failed();
      },
    });
    var headingId = id("password");
    var expires = details.expires_at ? new Date(details.expires_at) : null;
    var box = el("div", { class: "lw-password", "aria-labelledby": headingId }, [
      el("h3", { id: headingId, i18n: { text: "passwordTitle" } }),
      valueNode,
      el("div", { class: "lw-card-actions" }, [toggle, copy]),
      expires && !isNaN(expires) ? el("p", { class: "lw-password-expiry",
        i18n: { text: ["validUntil", { t: { deadline: expires.toISOString() } }] } }) : null,
      feedback,
    ]);
    log.appendChild(box);
    scrollDown();
  }

  function passwordAgain(message) {
    var details = heldPasswords.hasOwnProperty(String(message.reference)) ?
      heldPasswords[String(message.reference)] : null;
    if (details) {
      passwordBox({ temporary_password: details });
      return;
    }
    show(record({ kind: "local", text: t("passwordNotKept"), time: now(), choices: [
      { title: t("askNewPassword"), payload: NEW_PASSWORD },
    ] }));
  }

  function now() {
    return new Date().toISOString();
  }

  // ---- receiving -------------------------------------------------------------------------------
  function receive(message) {
    if (!message || typeof message !== "object") return;
    stopTyping();
    if (message.type === "turn") {
      takeTurn(message);
      return;
    }
    if (message.type === "pictures") {
      attachPictures(message.pictures);
      return;
    }
    if (message.type === "temporary_password") {
      setWaiting(null);
      var sent = message.temporary_password || {};
      // Sent again because the connection dropped before this page could acknowledge it: it is
      // already on the page.
      if (sent.reference && heldPasswords.hasOwnProperty(String(sent.reference))) return;
      passwordBox(message);
      return;
    }
    if (message.type === "temporary_password_again") {
      passwordAgain(message);
      return;
    }
    if (message.type === "reset_step") {
      setWaiting(null);
      var parts = message.parts && typeof message.parts === "object" ? message.parts : {};
      show(record({ kind: "card", card: {
        step: message.step, total: message.total, finished: !!message.finished,
        picture: message.picture, sensitive_input: !!message.sensitive_input,
        title: typeof message.title === "string" ? message.title : null,
        parts: {
          notice: typeof parts.notice === "string" ? parts.notice : null,
          body: typeof parts.body === "string" ? parts.body : null,
          tip: typeof parts.tip === "string" ? parts.tip : null,
        },
      }, time: now() }));
      return;
    }
    if (typeof message.text !== "string") return;
    if (message.part_of === "reset_step") return; // the step card that follows shows it
    if (message.agent) {
      setWaiting(null);
      show(record({ kind: "agent", agent: message.agent.name || "", text: message.text, time: now() }));
      return;
    }
    var entry = { kind: "bot", text: message.text, time: now() };
    if (Array.isArray(message.quick_replies) && message.quick_replies.length) {
      entry.choices = message.quick_replies.map(function (reply) {
        return { title: String(reply.title), payload: String(reply.payload) };
      });
    }
    show(record(entry));
  }

  // The end of the assistant's turn: what it expects next, and whether a person has the chat.
  function takeTurn(turn) {
    state.turn = {
      state: String(turn.state || ""), expects: String(turn.expects || ""),
      step: typeof turn.step === "number" ? turn.step : null,
      total: typeof turn.total === "number" ? turn.total : null,
      case: turn.case || null, sensitive_input: !!turn.sensitive_input,
    };
    // The language the assistant now speaks in this conversation.
    if (baseOf(turn.language) && baseOf(turn.language) !== language.base) {
      speak(baseOf(turn.language));
    }
    if (state.turn.state === "queued") {
      // The place in line: 1 = next; 0 (an agent has the case) or unknown: no number.
      state.waiting = typeof turn.position === "number" && turn.position > 0 ? turn.position : 0;
    } else {
      state.waiting = null;
    }
    persist();
    showWaiting();
  }
  // The widget's own words, dates and `lang` in another language, from now on (and after a
  // reload); what it sends says so.
  function speak(base) {
    language = languageFor(base);
    T = STRINGS[language.base];
    state.language = language.base;
    frame.setAttribute("lang", language.locale);
    root.querySelectorAll("[data-lw-i18n]").forEach(function (node) {
      labelled(node, JSON.parse(node.getAttribute("data-lw-i18n")));
    });
    root.querySelectorAll("time[datetime]").forEach(function (node) {
      node.textContent = clockText(node.getAttribute("datetime"));
    });
    root.querySelectorAll("img[data-lw-picture]").forEach(function (node) {
      node.src = pictureUrl(node.getAttribute("data-lw-picture"));
    });
  }
  function takenOver() {
    return !!state.turn && state.turn.state === "taken_over";
  }

  // Pictures that illustrate the assistant's message just before them.
  function attachPictures(names) {
    var entry = state.history[state.history.length - 1];
    if (!entry || (entry.kind !== "bot" && entry.kind !== "local") || !Array.isArray(names)) return;
    entry.pictures = (entry.pictures || []).concat(names.filter(function (name) {
      return MESSAGE_PICTURES.hasOwnProperty(name);
    }).map(function (name) { return { name: name }; }));
    persist();
    var old = entry.node;
    var node = render(entry);
    if (old && old.parentNode && node) old.parentNode.replaceChild(node, old);
    if (following) scrollDown();
  }

  // ---- sending ---------------------------------------------------------------------------------
  var socket = null;
  var typingTimer = null;
  var confirmed = false; // the server confirmed this socket's session: messages may go
  // Messages whose turn the server has not acknowledged yet ({ id, message }, in order): sent
  // once the session is confirmed, and sent again with the same id after a reconnection (the
  // server answers each id once, on whichever instance it lands).
  var unanswered = [];
  function messageId() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_");
  }
  function emitMessage(pending) {
    socket.emit("user_uttered", {
      message: pending.message, message_id: pending.id,
      // The widget's language (the page's, then the conversation's): the assistant starts the
      // conversation in it.
      metadata: { language: language.base },
    }, function () {
      var at = unanswered.indexOf(pending);
      if (at >= 0) unanswered.splice(at, 1);
    });
  }
  // Sends `message` (what the visitor typed, or a button's `/intent`) and shows `shown` as the
  // visitor's (nothing when null: the opening greeting).
  function send(message, shown) {
    retireChoices();
    var toAgent = takenOver(); // a person answers by hand: no typing dots
    if (shown !== null) show(record({ kind: "user", text: shown, time: now(), toAgent: toAgent }));
    var pending = { id: messageId(), message: message };
    unanswered.push(pending);
    connect();
    if (confirmed) emitMessage(pending);
    if (!toAgent) {
      typing.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(stopTyping, TYPING_MS);
    }
    input.focus();
  }
  function stopTyping() {
    typing.hidden = true;
    clearTimeout(typingTimer);
  }

  // Why the photo gave no Device ID: in the widget's words for that reason when it has them,
  // else the server's.
  function photoProblem(answer) {
    var key = "photoError:" + answer.error;
    if (typeof answer.error === "string" && T.hasOwnProperty(key)) return t(key);
    return typeof answer.message === "string" && answer.message ? answer.message :
      t("photoFailed");
  }

  function uploadPhoto(file) {
    fileInput.value = "";
    if (!file) return;
    if (file.size > MAX_UPLOAD) {
      show(record({ kind: "local", text: t("photoTooLarge"), time: now() }));
      return;
    }
    var note = { kind: "local", text: t("reading"), time: now() };
    show(note);
    fetch(BASE + "label-photo", {
      method: "POST", body: file, headers: { "Content-Type": file.type || "application/octet-stream" },
    }).then(function (response) {
      return response.json().catch(function () { return {}; });
    }).then(function (answer) {
      if (note.node) note.node.remove();
      if (!answer.device_id) {
        show(record({ kind: "local", text: photoProblem(answer), time: now() }));
        return;
      }
      var grouped = answer.grouped || answer.device_id;
      var key = answer.outcome === "serial_number" ? "photoSerial" :
        answer.ok ? "photoFound" : "photoNotFound";
      var entry = { kind: "local", text: t(key, { id: "**" + grouped + "**" }), time: now() };
      if (answer.outcome !== "serial_number") {
        entry.choices = [
          { title: t("photoYes"), local: function () {
            send("/provide_device_id" + JSON.stringify({ device_id: answer.device_id }), grouped);
          } },
          { title: t("photoNo"), local: function () {
            entry.used = true;
            retireChoices();
            input.focus();
          } },
        ];
      }
      show(record(entry));
      var buttons = entry.node.querySelectorAll("button");
      if (buttons.length) buttons[0].focus();
    }).catch(function () {
      if (note.node) note.node.remove();
      show(record({ kind: "local", text: t("photoFailed"), time: now() }));
    });
  }

  // ---- the socket --------------------------------------------------------------------------------
  function connect() {
    if (socket) return;
    if (!window.io) {
      loadSocketIo(connect);
      return;
    }
    relabel(connection, "text", "connecting");
    // WebSocket only: long-polling's requests must all reach the instance holding the session,
    // and the load balancer in front of several instances does not keep them together.
    socket = window.io(options.server, { path: "/socket.io", transports: ["websocket"] });
    socket.on("connect", function () {
      confirmed = false;
      socket.emit("session_request", { session_id: sessionId });
    });
    socket.on("session_confirm", function (confirmedId) {
      if (sessionId && confirmedId !== sessionId) { // a new conversation
        state.turn = null;
        setWaiting(null);
      }
      sessionId = confirmedId;
      save("session", sessionId);
      confirmed = true;
      relabel(connection, "text", null);
      unanswered.slice().forEach(emitMessage);
    });
    socket.on("chat_error", function (error) {
      stopTyping();
      var refused = error && error.error === "intent_not_allowed";
      show(record({ kind: "local", text: t(refused ? "slashRefused" : "notSent"), time: now() }));
    });
    socket.on("disconnect", function () {
      confirmed = false;
      relabel(connection, "text", "offline");
    });
    // Each message is acknowledged once shown: what the server kept while this page was away
    // leaves its keep (and a password counts as delivered) only then.
    socket.on("bot_uttered", function (message, acknowledge) {
      try {
        receive(message);
      } finally {
        if (typeof acknowledge === "function") acknowledge();
      }
    });
  }
  var loadingSocketIo = false;
  function loadSocketIo(then) {
    if (loadingSocketIo) return;
    loadingSocketIo = true;
    var tag = document.createElement("script");
    tag.src = BASE + "vendor/socket.io.min.js";
    tag.onload = then;
    document.head.appendChild(tag);
  }

  // ---- start: the saved conversation, then the socket ---------------------------------------
  function start() {
    document.body.appendChild(host);
    // Choices saved without a way to act on them (a photo's) are spent after a reload.
    state.history.forEach(function (entry) {
      if (entry.choices && entry.choices.some(function (c) { return !c.payload; })) entry.used = true;
    });
    state.history.forEach(function (entry) {
      var node = render(entry);
      if (node) log.appendChild(node);
    });
    showWaiting();
    if (state.open) setOpen(true);
    else if (state.history.length) connect();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
